// est-server as a child process (the real CLI through tsx): started, its port read from stdout, its stderr log kept.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A running est-server: the child, the port it printed, and everything it logged so far. */
export interface EstServerProcess {
  child: ChildProcess;
  port: number;
  log(): string;
}

/** Runs `est-server <args>` (cwd `cwd`, default the repository) and waits for its "listening on" line. */
export async function spawnEstServer(args: string[], cwd = ROOT): Promise<EstServerProcess> {
  const child = spawn(process.execPath, ['--import', join(ROOT, 'node_modules/tsx/dist/loader.mjs'), join(ROOT, 'lib/cli/est-server.ts'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on https?:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`est-server exited ${code}: ${log}`)));
  });
  return { child, port, log: () => log };
}
