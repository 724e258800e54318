// Imports point down the request path only: a module may import its own layer or a lower one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), '../../lib');

/**
 * The layers, lowest first. The CA and record-store interfaces (types only) are the contract every
 * stage may name; their implementations sit after the check stage, as on the request path:
 * route → tls facts → authorize → check → issue/record (ca, store) → respond (middleware).
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts'],
  // files/: the atomic writer, a leaf (node:fs only) shared by the CA's serial file, the CLI and the client.
  // observe/: metrics, health checks and spans, a leaf (prom-client, undici, @opentelemetry/api) for the middleware and the CLI.
  ['protocol/', 'files/', 'observe/'],
  ['ca/types.ts', 'store/types.ts'],
  ['tls/'],
  ['auth/'],
  ['check/'],
  ['approve/'],
  ['ca/', 'store/'],
  ['middleware/'],
  ['admin/'],
  ['migrate/'],
  ['cli/'],
  ['index.ts'],
];

/** The client SDK stands apart: it may use the protocol layer, the file writer (and itself) only. */
const CLIENT_MAY_USE = ['client/', 'protocol/', 'files/'];

function rank(path: string): number {
  // The most specific prefix wins (ca/types.ts before ca/).
  let best = -1;
  let bestLen = -1;
  LAYERS.forEach((prefixes, i) => {
    for (const p of prefixes) {
      if ((path === p || path.startsWith(p)) && p.length > bestLen) {
        best = i;
        bestLen = p.length;
      }
    }
  });
  return best;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
    out.push(relative(LIB, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
  }
  return out;
}

test('every lib/ module is in a layer', () => {
  const unplaced = files(LIB).map((f) => relative(LIB, f)).filter((f) => !f.startsWith('client/') && rank(f) < 0);
  assert.deepEqual(unplaced, []);
});

test('no import runs back up the request path', () => {
  const wrong: string[] = [];
  for (const file of files(LIB)) {
    const from = relative(LIB, file);
    for (const to of imports(file)) {
      if (from.startsWith('client/')) {
        if (!CLIENT_MAY_USE.some((p) => to.startsWith(p))) wrong.push(`${from} → ${to} (the client depends on protocol/ and files/ only)`);
        continue;
      }
      if (to.startsWith('client/')) {
        if (!from.startsWith('cli/') && from !== 'index.ts') wrong.push(`${from} → ${to} (only the CLI uses the client)`);
        continue;
      }
      if (rank(to) > rank(from)) wrong.push(`${from} → ${to}`);
    }
  }
  assert.deepEqual(wrong, [], `imports up the request path:\n${wrong.join('\n')}`);
});

test('the layer check itself catches an upward import', () => {
  assert.ok(rank('tls/tls-facts.ts') < rank('middleware/options.ts'));
  assert.ok(rank('ca/types.ts') < rank('check/index.ts'));
  assert.ok(rank('check/index.ts') < rank('ca/file-ca.ts'));
  assert.ok(rank('protocol/der.ts') < rank('tls/tls-facts.ts'));
});
