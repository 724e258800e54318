// Which express-est a generated app depends on: the registry's, or the very copy est-migrate runs from.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `express-est` entry of the generated package.json, and how it was chosen (for MIGRATION.md). */
export interface ExpressEstDependency {
  /** The dependency spec: `^0.1.0`, `file:/path/to/checkout`, or `file:./express-est-0.1.0.tgz`. */
  spec: string;
  /** One sentence for MIGRATION.md. */
  how: string;
  /** When set, `npm pack` this folder next to the app (the spec names the tarball). */
  packFrom?: string;
}

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Looks at where this module runs from. A checkout or folder (`npm i ../express-est` links one):
 * a `file:` dependency on it. An install from the registry (the hidden lockfile says where it was
 * resolved): `^version`. Any other install (tarball, git): a tarball packed from it, next to the app.
 */
export function expressEstDependency(root = fileURLToPath(new URL('../../', import.meta.url))): ExpressEstDependency {
  const real = realpathSync(root);
  const version = String(readJson(join(real, 'package.json'))?.version ?? '0.1.0');
  const registry = { spec: `^${version}`, how: `express-est ^${version} from the npm registry, like the one est-migrate ran from.` };
  const parts = real.split(sep);
  const nm = parts.lastIndexOf('node_modules');
  if (nm < 0) {
    return { spec: `file:${real}`, how: `express-est from the folder est-migrate ran from (${real}), as a \`file:\` dependency: npm links that folder (its \`prepare\` script builds it). Replace it with \`^${version}\` once the package is on your registry.` };
  }
  const project = parts.slice(0, nm).join(sep) || sep;
  const lock = readJson(join(project, 'node_modules', '.package-lock.json')) ?? readJson(join(project, 'package-lock.json'));
  const entry = (lock?.packages as Record<string, { resolved?: string }> | undefined)?.[relative(project, real).split(sep).join('/')];
  const resolved = entry?.resolved;
  if (!resolved || /^https?:\/\//.test(resolved)) return registry;
  const tarball = `express-est-${version}.tgz`;
  if (!existsSync(join(real, 'dist', 'index.js'))) return registry;
  return { spec: `file:./${tarball}`, how: `express-est packed from the copy est-migrate ran from (installed from ${resolved}) into ${tarball} next to the app, as a \`file:\` dependency.`, packFrom: real };
}
