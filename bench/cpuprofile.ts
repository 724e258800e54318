// Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by category.
// Usage: node --import tsx bench/cpuprofile.ts <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  functions: Array<{ name: string; where: string; ms: number; share: number }>;
  categories: Array<{ category: string; ms: number; share: number }>;
}

/** Where a frame's own time goes, by the file it runs in (self time, not inclusive). */
function category(fn: string, url: string): string {
  if (fn === '(idle)') return 'idle (waiting for I/O or a crypto thread)';
  if (fn === '(garbage collector)') return 'garbage collector';
  if (fn === '(program)') return 'native, outside JavaScript (V8, libuv, OpenSSL calls not attributed)';
  if (/node:internal\/crypto|node:crypto/.test(url) || /^(verify|sign|createPublicKey|createPrivateKey)$/.test(fn)) return 'crypto (node:crypto calls: on a crypto thread, the work itself)';
  if (/node:internal\/(tls|stream_base_commons|net)|node:(tls|net|_tls)|_tls_/.test(url) || /^(writev|writeUtf8String|writeBuffer|writeLatin1String)$/.test(fn)) return 'TLS and sockets';
  if (/_http_|node:http|node:internal\/http/.test(url)) return 'node:http';
  if (/undici/.test(url)) return 'undici (auth subrequest)';
  if (/pino|sonic-boom|thread-stream/.test(url)) return 'logging (pino)';
  if (/prom-client/.test(url)) return 'metrics (prom-client)';
  if (/\/lib\/store\/|\/store\//.test(url)) return 'record store (ledger, serials)';
  if (/\/protocol\/(der|pkcs10|certificate|x509|asn1)/.test(url)) return 'ASN.1 / DER';
  if (/\/(lib|express-est-bench)\//.test(url)) return 'express-est, other';
  if (/node:internal\/(fs|streams|event|timers|process|async_hooks)|node:(fs|events|timers)/.test(url)) return 'node: fs, streams, events, timers';
  if (url.startsWith('node:')) return 'node: other';
  if (url === '') return 'V8 builtins and natives';
  return 'other';
}

export function summarise(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map<string, { name: string; where: string; us: number }>();
  const cats = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const name = functionName || '(anonymous)';
    const where = url ? `${url.startsWith('file://') ? relative(process.cwd(), new URL(url).pathname) : url}:${lineNumber + 1}` : '';
    const k = `${name} ${where}`;
    const f = fns.get(k) ?? { name, where, us: 0 };
    f.us += us;
    fns.set(k, f);
    const c = category(functionName, url);
    cats.set(c, (cats.get(c) ?? 0) + us);
  }
  const share = (us: number) => us / total;
  return {
    totalMs: total / 1000,
    functions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, share: share(f.us) })),
    categories: [...cats].sort((a, b) => b[1] - a[1]).map(([category, us]) => ({ category, ms: us / 1000, share: share(us) })),
  };
}

export function formatSummary(s: ProfileSummary): string {
  const pct = (x: number) => `${(100 * x).toFixed(1).padStart(5)}%`;
  return [
    `${s.totalMs.toFixed(0)} ms sampled`,
    'categories (self time):',
    ...s.categories.map((c) => `  ${pct(c.share)}  ${c.category}`),
    'top functions (self time):',
    ...s.functions.map((f) => `  ${pct(f.share)}  ${f.name}  ${f.where}`),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/cpuprofile.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(formatSummary(summarise(file, Number(process.argv[3] ?? 25))) + '\n');
}
