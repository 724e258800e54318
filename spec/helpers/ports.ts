// Ports for tests and the benchmark: a free one to hand to a daemon, and waiting until it listens.
import type { ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Resolves once something accepts TCP connections on the port; rejects when `proc` dies first or time runs out. */
export async function waitPort(port: number, proc: ChildProcess, log: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${proc.spawnfile} exited with ${proc.exitCode ?? proc.signalCode}: ${log()}`);
    if (await accepts(port)) return;
    if (Date.now() > deadline) throw new Error(`${proc.spawnfile} did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
