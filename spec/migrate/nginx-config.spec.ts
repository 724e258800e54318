// nginx config parser: tokens, quoting, comments, includes with globs, syntax errors with file:line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNginxConfig, tokenize, NginxConfigError, type NginxDirective } from '../../lib/migrate/nginx-config.js';

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'est-migrate-parse-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d, name, '..'), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}

function find(list: NginxDirective[], name: string): NginxDirective[] {
  return list.flatMap((d) => [...(d.name === name ? [d] : []), ...find(d.block ?? [], name)]);
}

test('comments, quotes and escapes are read like nginx', () => {
  const toks = tokenize(`# top\nset $a "x y; {z}" ; # tail\nb 'it\\'s' c\\ d "q\\"q" a#b;`, 't.conf');
  const words = toks.filter((t) => t.kind === 'word').map((t) => (t as { value: string }).value);
  assert.deepEqual(words, ['set', '$a', 'x y; {z}', 'b', "it's", 'c d', 'q"q', 'a#b']);
  assert.equal(toks.filter((t) => t.kind === ';').length, 2);
  assert.equal(toks[0]!.line, 2);
});

test('${var} braces stay inside a word', () => {
  const toks = tokenize('return 200 ${host}x;', 't.conf');
  assert.deepEqual(toks.filter((t) => t.kind === 'word').map((t) => (t as { value: string }).value), ['return', '200', '${host}x']);
});

test('nested blocks keep file and line', () => {
  const d = dir({ 'nginx.conf': 'http {\n  server {\n    location /a {\n      location /a/b { est on; }\n    }\n  }\n}\n' });
  const cfg = parseNginxConfig(join(d, 'nginx.conf'));
  const est = find(cfg.directives, 'est')[0]!;
  assert.deepEqual([est.file, est.line, est.args], ['nginx.conf', 4, ['on']]);
  assert.equal(find(cfg.directives, 'location').length, 2);
});

test('include: globs sorted, relative to the conf prefix, in place', () => {
  const d = dir({
    'nginx.conf': 'http {\n  include conf.d/*.conf;\n  include single.conf;\n}\n',
    'conf.d/b.conf': 'server { listen 2; }\n',
    'conf.d/a.conf': 'server { listen 1; }\n',
    'conf.d/.hidden.conf': 'server { listen 9; }\n',
    'conf.d/skip.txt': 'server { listen 8; }\n',
    // relative include inside an included file still resolves against the prefix, not conf.d/
    'single.conf': 'include conf.d/a.conf;\n',
  });
  const cfg = parseNginxConfig(join(d, 'nginx.conf'));
  const listens = find(cfg.directives, 'listen').map((x) => `${x.args[0]}@${x.file}:${x.line}`);
  assert.deepEqual(listens, ['1@conf.d/a.conf:1', '2@conf.d/b.conf:1', '1@conf.d/a.conf:1']);
  assert.equal(cfg.files.length, 5);
});

test('include: an empty glob is fine, a missing file is an error at the include line', () => {
  const ok = dir({ 'nginx.conf': 'http {\n include none/*.conf;\n}\n' });
  assert.equal(parseNginxConfig(join(ok, 'nginx.conf')).directives[0]!.block!.length, 0);
  const bad = dir({ 'nginx.conf': 'http {\n\n include missing.conf;\n}\n' });
  assert.throws(() => parseNginxConfig(join(bad, 'nginx.conf')), (e: NginxConfigError) => {
    assert.equal(e.code, 'ERR_EST_MIGRATE_SYNTAX');
    assert.match(e.message, /^open\(\) ".*missing\.conf" failed \(ENOENT\) in nginx\.conf:3$/);
    return true;
  });
});

test('include cycles are refused', () => {
  const d = dir({ 'nginx.conf': 'include a.conf;\n', 'a.conf': 'include nginx.conf;\n' });
  assert.throws(() => parseNginxConfig(join(d, 'nginx.conf')), /include cycle.*in a\.conf:1/);
});

for (const [name, text, message] of [
  ['missing semicolon at end of file', 'http {\n  server {\n    listen 443\n', 'unexpected end of file, expecting ";" or "}" in nginx.conf:3'],
  ['unclosed block', 'http {\n  server {\n  }\n', 'unexpected end of file, expecting "}" in nginx.conf:3'],
  ['stray brace', 'events {}\n}\n', 'unexpected "}" in nginx.conf:2'],
  ['brace in place of semicolon', 'http {\n  listen 443 }\n', 'unexpected "}" after "listen", expecting ";" in nginx.conf:2'],
  ['unclosed quote', 'http {\n  a "b;\n}\n', 'unexpected end of file, expecting closing quote in nginx.conf:2'],
  ['text glued to a quote', 'a "b"c;\n', 'unexpected "c" in nginx.conf:1'],
] as const) {
  test(`syntax error with file:line: ${name}`, () => {
    const d = dir({ 'nginx.conf': text });
    assert.throws(() => parseNginxConfig(join(d, 'nginx.conf')), (e: Error) => {
      assert.ok(e instanceof NginxConfigError);
      assert.equal(e.message, message);
      return true;
    });
  });
}

test('a syntax error in an included file names that file', () => {
  const d = dir({ 'nginx.conf': 'http {\n include sites/*.conf;\n}\n', 'sites/est.conf': 'server {\n  location / {\n    est on\n  }\n}\n' });
  assert.throws(() => parseNginxConfig(join(d, 'nginx.conf')), { message: 'unexpected "}" after "est", expecting ";" in sites/est.conf:4' });
});
