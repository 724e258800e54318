// Test harness for real TLS terminators: free ports, example configs rendered for a temp dir, nginx/HAProxy processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitPort } from '../helpers/ports.js';

export { freePort };

const ROOT = new URL('../../', import.meta.url).pathname;

/** Path of a file in the repository. */
export const repoPath = (p: string): string => join(ROOT, p);

/** The binary's path when it exists and is executable. */
export function findBinary(candidates: string[]): string | undefined {
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export const NGINX = findBinary(['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']);
export const HAPROXY = findBinary(['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy']);
/** Debian's dynamic stream module (package libnginx-mod-stream), needed by nginx-stream.conf. */
export const NGINX_STREAM_MODULE = (() => {
  try {
    accessSync('/usr/lib/nginx/modules/ngx_stream_module.so', constants.R_OK);
    return '/usr/lib/nginx/modules/ngx_stream_module.so';
  } catch {
    return undefined;
  }
})();

/**
 * Reads an example config and replaces literal strings (ports, paths) for the test; each `from`
 * must occur, so a drifting example fails loudly instead of testing something else.
 */
export function renderExample(relPath: string, replacements: Array<[string | RegExp, string]>): string {
  let text = readFileSync(repoPath(relPath), 'utf8');
  for (const [from, to] of replacements) {
    const found = typeof from === 'string' ? text.includes(from) : from.test(text);
    if (!found) throw new Error(`${relPath}: expected to find ${String(from)}`);
    text = typeof from === 'string' ? text.split(from).join(to) : text.replace(from, to);
  }
  return text;
}

/**
 * An nginx example's `worker_processes auto;` replaced for a test or bench run: as root, nginx's
 * workers would run as nobody, who cannot enter a 0700 temporary folder to write the /cacerts cache.
 */
export function nginxWorkers(count: number | 'auto'): [string, string] {
  return ['worker_processes auto;', `worker_processes ${count};${process.getuid?.() === 0 ? ' user root;' : ''}`];
}

export interface Daemon {
  proc: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// Never leave a proxy behind, even when a test file dies before its after() hook.
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Spawns a foreground daemon and waits until it listens on every port given. */
export async function startDaemon(bin: string, args: string[], ports: number[]): Promise<Daemon> {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const d: Daemon = {
    proc,
    log: () => out,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      await gone;
    },
  };
  try {
    for (const p of ports) await waitPort(p, proc, d.log);
  } catch (e) {
    await d.stop();
    throw e;
  }
  return d;
}

/** Starts nginx in the foreground with `config` written to `dir`. */
export async function startNginx(dir: string, config: string, ports: number[]): Promise<Daemon> {
  const conf = join(dir, `nginx-${ports[0]}.conf`);
  writeFileSync(conf, config);
  return startDaemon(NGINX!, ['-p', dir, '-c', conf, '-e', join(dir, `nginx-${ports[0]}-error.log`), '-g', 'daemon off;'], ports);
}

/** Starts HAProxy in the foreground (-db) with `config` written to `dir`. */
export async function startHaproxy(dir: string, config: string, ports: number[]): Promise<Daemon> {
  const conf = join(dir, `haproxy-${ports[0]}.cfg`);
  writeFileSync(conf, config);
  return startDaemon(HAPROXY!, ['-db', '-f', conf], ports);
}
