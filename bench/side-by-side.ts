// Two builds of est-server under load at the same time, so that a shared machine's drift hits both alike.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeFixtures } from './fixtures.js';
import { benchCsrAttrs, compileLib, loadSpecFor, runLoad, startAuthBackend, startEstServer, type BenchOp } from './servers.js';

const USAGE = `Usage: npm run bench:side-by-side -- <build A> <build B> [options]

Starts one est-server from each build and loads both at once, each with half the connections, for
--rounds rounds; prints each round's req/s and B/A. Sequential runs of the same build on a shared
virtual machine drift by 30% within minutes; two servers measured side by side see the same
machine, so B/A resolves 2–3% with one process each (A against A: 0.98–1.00), ±7% with
--workers 2 each (four processes on two cores: 0.98–1.12).

A build is a folder of compiled lib/ (node node_modules/typescript/bin/tsc -p tsconfig.build.json
--outDir <folder> --sourceMap false --declaration false), or "." for the working tree.

Options:
  --op <op>          enroll-cert (default) or enroll-auth
  --seconds <s>      measured seconds per round after 2 s of warm-up (default 12)
  --rounds <n>       rounds, each with fresh servers and serial files (default 3)
  --connections <n>  keep-alive connections in all (default 64)
  --workers <n>      est-server --workers of each build (default 1: one process each)
  --no-ledger-b      B without a ledger (store: false): the ledger's cost, side by side
  --node-args-b <f>  node flags for B's est-server, space-separated (A and B may be one build)
  --env-b <K=V>      an environment variable for B's est-server (repeatable), e.g. MALLOC_ARENA_MAX=2
  -h, --help         this text
`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    op: { type: 'string', default: 'enroll-cert' },
    seconds: { type: 'string', default: '12' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '64' },
    workers: { type: 'string', default: '1' },
    'no-ledger-b': { type: 'boolean', default: false },
    'node-args-b': { type: 'string', default: '' },
    'env-b': { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const op = values.op as BenchOp;
if (values.help || positionals.length !== 2 || (op !== 'enroll-cert' && op !== 'enroll-auth')) {
  process.stderr.write(USAGE);
  process.exit(values.help ? 0 : 2);
}
const builds = positionals.map((b) => (b === '.' ? compileLib() : b));

const fx = makeFixtures(32);
const auth = await startAuthBackend();
const ca = fx.cas.p256;
const csrAttrs = join(fx.dir, 'csrattrs.der');
writeFileSync(csrAttrs, benchCsrAttrs());
const ratios: number[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  const servers = [];
  for (const [i, compiled] of builds.entries()) {
    const serialFile = join(fx.dir, `serial-${r}-${i}.srl`);
    writeFileSync(serialFile, '1000\n');
    const noLedger = i === 1 && values['no-ledger-b'];
    const nodeArgs = i === 1 ? values['node-args-b']!.split(' ').filter(Boolean) : [];
    const env = i === 1 ? Object.fromEntries(values['env-b']!.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) : {};
    servers.push(await startEstServer({ ca, dir: fx.dir, workers: Number(values.workers), tls: true, authUrl: auth.url, serialFile, serialLease: 256, csrAttrs, compiled: compiled!, nodeArgs, env, ...(noLedger ? { store: false as const } : {}) }));
  }
  const timing = { connections: Math.max(1, Math.floor(Number(values.connections) / 2)), durationSec: Number(values.seconds), warmupSec: 2 };
  const res = await Promise.all(servers.map((s, i) => runLoad(loadSpecFor(op, s.url, ca, fx.csrBodies, timing), fx.dir, 100 + i, () => {})));
  for (const s of servers) await s.close();
  const [a, b] = res as [(typeof res)[0], (typeof res)[0]];
  ratios.push(b.rps / a.rps);
  const bad = a.non2xx + a.errors + b.non2xx + b.errors;
  process.stdout.write(`round ${r + 1}: A ${a.rps.toFixed(0)}, B ${b.rps.toFixed(0)} req/s, B/A ${(b.rps / a.rps).toFixed(3)}; p99 ${a.p99} / ${b.p99} ms${bad ? `; ${bad} errors or non-2xx` : ''}\n`);
}
const sorted = [...ratios].sort((x, y) => x - y);
process.stdout.write(`B/A median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)} (${sorted.map((x) => x.toFixed(3)).join(', ')})\n`);
await auth.close();
