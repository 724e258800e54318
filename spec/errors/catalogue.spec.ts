// The error catalogue (lib/errors.ts) is the one list of codes: the code raises it, README shows it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as errors from '../../lib/errors.js';
import { ERROR_CATALOGUE, estError, type EstErrorCode } from '../../lib/errors.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BEGIN = '<!-- error-table: generated from lib/errors.ts ERROR_CATALOGUE by spec/errors/catalogue.spec.ts -->';
const END = '<!-- /error-table -->';

/** README's error table, rendered from the catalogue. */
function renderErrorTable(): string {
  const rows = Object.entries(ERROR_CATALOGUE).map(
    ([code, e]) => `| \`${code}\` | ${e.status} | \`${e.class}\` | ${e.message.replace(/\|/g, '\\|').replace(/<([^<>]+)>/g, '_$1_')} |`,
  );
  return [BEGIN, '| Code | Status | Class | Reason (one line, `text/plain`) |', '|---|---|---|---|', ...rows, END].join('\n');
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

// `WRITE_ERROR_TABLE=1 node --import tsx spec/errors/catalogue.spec.ts` regenerates the README table.
if (process.env.WRITE_ERROR_TABLE === '1') {
  const path = join(REPO, 'README.md');
  const readme = readFileSync(path, 'utf8');
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < 0) throw new Error('README.md lacks the error-table markers');
  writeFileSync(path, readme.slice(0, a) + renderErrorTable() + readme.slice(b + END.length));
}

test('README.md shows the error catalogue as generated', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  assert.ok(readme.includes(renderErrorTable()), 'README error table differs from ERROR_CATALOGUE: run WRITE_ERROR_TABLE=1 node --import tsx spec/errors/catalogue.spec.ts');
});

test('every ERR_EST_* code the server side names is in the catalogue', () => {
  const missing: string[] = [];
  for (const file of files(join(REPO, 'lib'))) {
    const rel = relative(join(REPO, 'lib'), file);
    // The client SDK (ERR_EST_CLIENT_*) and est-migrate (ERR_EST_MIGRATE_*) have their own errors.
    if (rel.startsWith('client/') || rel.startsWith('migrate/') || rel.startsWith('cli/')) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/'(ERR_EST_[A-Z0-9_]+)'/g)) {
      if (!(m[1]! in ERROR_CATALOGUE)) missing.push(`${rel}: ${m[1]}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('estError raises each code as its catalogued class and status', () => {
  for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
    const e = estError(code as EstErrorCode, 'why', { retryAfter: 3 });
    const cls = (errors as unknown as Record<string, new (...a: never[]) => Error>)[entry.class]!;
    assert.ok(e instanceof cls, `${code} is not a ${entry.class}`);
    assert.ok(e instanceof errors.EstError);
    assert.equal(e.code, code);
    assert.equal(e.status, entry.status, code);
    assert.equal(e.message, 'why');
  }
  assert.equal(estError('ERR_EST_POLICY', 'no', { status: 409 }).status, 409);
  assert.equal(estError('ERR_EST_SERIAL_LOCK', 'busy', { retryAfter: 1 }).retryAfter, 1);
  assert.equal(estError('ERR_EST_UNAUTHORIZED', 'who').headers?.['WWW-Authenticate'], 'Basic realm="est"');
});
