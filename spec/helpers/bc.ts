// Compiles and runs the Bouncy Castle CMC helper (CmcInterop.java) for the /fullcmc specs.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const JARS = ['bcprov.jar', 'bcpkix.jar', 'bcutil.jar'].map((j) => join('/usr/share/java', j));
const SOURCE = join(fileURLToPath(new URL('.', import.meta.url)), 'CmcInterop.java');

/** Why Bouncy Castle interop cannot run here, or undefined when it can. In CI nothing may skip. */
export function bcMissing(): string | undefined {
  const why = spawnSync('javac', ['-version']).status !== 0 ? 'javac not installed' : JARS.find((j) => !existsSync(j)) ? 'Bouncy Castle jars not in /usr/share/java' : undefined;
  if (why && process.env.CI === 'true') throw new Error(`CI: ${why}`);
  return why;
}

/** Compiles the helper into `dir`; returns a runner. */
export function compileBc(dir: string): (args: string[]) => string {
  execFileSync('javac', ['-cp', JARS.join(':'), '-d', dir, SOURCE], { stdio: 'pipe' });
  const cp = [dir, ...JARS].join(':');
  return (args) => execFileSync('java', ['-cp', cp, 'CmcInterop', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}
