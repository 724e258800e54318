#!/usr/bin/env node
// est-migrate launcher: runs the built CLI (npm run build compiles lib/ to dist/).
import { main } from '../dist/cli/est-migrate.js';

process.exitCode = main(process.argv.slice(2));
