#!/usr/bin/env node
// Launcher for the est-client CLI (built output).
import { main } from '../dist/cli/est-client.js';

const ac = new AbortController();
const stop = () => ac.abort(new Error('terminated'));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
main(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), signal: ac.signal }).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`est-client: ${e?.stack ?? e}\n`);
    process.exitCode = 2;
  },
);
