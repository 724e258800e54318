#!/usr/bin/env node
// est-server launcher: runs the built CLI (npm run build compiles lib/ to dist/).
import { main } from '../dist/cli/est-server.js';

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
