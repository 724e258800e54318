#!/usr/bin/env node
// est-admin launcher: runs the built CLI (npm run build compiles lib/ to dist/).
import { main } from '../dist/cli/est-admin.js';

process.exitCode = await main(process.argv.slice(2));
