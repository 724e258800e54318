// The embedded store: index.txt that openssl ca reads and writes, live revocation, the ledger, pending requests.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { FileSerialStore } from '../../lib/ca/serial-file-store.js';
import { EstStoreError } from '../../lib/errors.js';
import { FileRecordStore, defaultIndexPath } from '../../lib/store/file-store.js';
import { asn1TimeText, formatIndexLine, parseIndexLine } from '../../lib/store/openssl-index.js';
import { main as admin } from '../../lib/cli/est-admin.js';
import { createCrl, type CreateCrlOptions } from '../../lib/store/admin.js';
import { INDEX_LINES_START, writeIndexLines } from '../helpers/index-lines.js';
import { openssl, TestPki } from '../helpers/pki.js';
import { issuer } from './issue.js';
import { recordInput } from './pending-contract.js';

const pki = new TestPki();
after(() => pki.cleanup());

/** A fresh P-256 CA and a file store on its serial file, closed after `fn` whatever it did. */
async function withFileStore(watchIntervalMs: number, fn: (s: { ca: ReturnType<TestPki['ca']>; store: FileRecordStore; issue: ReturnType<typeof issuer> }) => Promise<void>): Promise<void> {
  const ca = pki.ca('p256');
  const store = fileStore(ca.serial, watchIntervalMs);
  try {
    await fn({ ca, store, issue: issuer(pki, ca, store) });
  } finally {
    await store.close();
  }
}

function fileStore(serialPath: string, watchIntervalMs = 100): FileRecordStore {
  const serial = new FileSerialStore(serialPath);
  return new FileRecordStore({ indexPath: defaultIndexPath(serialPath), serialStore: serial, lock: serial.lock, watchIntervalMs, closeSerialStore: true });
}

/** An openssl ca config on our files (the "matching openssl config" of the README). */
function opensslCaConfig(ca: { cert: string; key: string; serial: string }): string {
  const dir = pki.path('newcerts');
  writeFileSync(pki.path('crlnumber'), '01\n');
  return pki.write(
    `openssl-ca-${Math.random().toString(16).slice(2)}.cnf`,
    [
      '[ca]',
      'default_ca = est',
      '[est]',
      `database = ${defaultIndexPath(ca.serial)}`,
      `serial = ${ca.serial}`,
      `certificate = ${ca.cert}`,
      `private_key = ${ca.key}`,
      `new_certs_dir = ${dir}`,
      `crlnumber = ${pki.path('crlnumber')}`,
      'default_md = sha256',
      'default_crl_days = 7',
      'policy = any',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
}

async function until(what: string, cond: () => Promise<boolean>, ms = 5000): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

/**
 * index.txt's text with the V line of `serial` (the first V line when none is given) turned into an
 * R line, as `openssl ca -revoke` writes it.
 */
function revokedInText(text: string, reason: string, serial?: string): string {
  return text.replace(new RegExp(`^V\\t(\\S+)\\t\\t(${serial ?? '\\S+'}\\t)`, 'm'), `R\t$1\t260101000000Z,${reason}\t$2`);
}

/** What `openssl ca -revoke` does to index.txt: the whole file written anew, then renamed into place. */
function rewriteIndex(index: string, text: string): void {
  writeFileSync(index + '.new', text);
  renameSync(index + '.new', index);
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) }, out, err };
}

describe('index.txt lines', () => {
  test('round-trips what openssl ca writes, including reasons and 2050+ dates', () => {
    const exp = new Date('2051-03-04T05:06:07Z');
    const line = formatIndexLine('R', exp, '0A1B', '/CN=x/O=y', { at: new Date('2026-01-02T03:04:05Z'), reason: 'keyCompromise' });
    assert.equal(line, 'R\t20510304050607Z\t260102030405Z,keyCompromise\t0A1B\tunknown\t/CN=x/O=y');
    const l = parseIndexLine(line);
    assert.ok(typeof l !== 'string');
    assert.equal(l.serial, 'A1B');
    assert.equal(l.reason, 'keyCompromise');
    assert.equal(l.expiry.toISOString(), exp.toISOString());
    assert.equal(asn1TimeText(new Date('2049-12-31T23:59:59Z')), '491231235959Z');
    const kt = parseIndexLine('R\t300101000000Z\t260101000000Z,keyTime,20260101000000Z\t01\tunknown\t/CN=a');
    assert.ok(typeof kt !== 'string' && kt.reason === 'keyCompromise');
    assert.match(parseIndexLine('V\t300101000000Z\t\t01\tunknown') as string, /expected 6 tab-separated fields, found 5/);
    assert.match(parseIndexLine('X\t300101000000Z\t\t01\tunknown\t/CN=a') as string, /status must be V, R or E/);
    assert.match(parseIndexLine('R\t300101000000Z\tyesterday\t01\tunknown\t/CN=a') as string, /revocation time/);
  });
});

describe('file store with openssl ca', () => {
  test('records index.txt that openssl ca -revoke and -gencrl use; a revocation by openssl is honoured live; our CRL verifies', async () => {
    const ca = pki.ca('p256');
    const store = fileStore(ca.serial);
    try {
      const issue = issuer(pki, ca, store);
      const a = await issue('/CN=device-a/O=Demo Devices', 'devices');
      const b = await issue('/CN=device-b/O=Demo Devices');
      const c = await issue('/CN=device-a/O=Demo Devices'); // same subject again: unique_subject = no
      const index = defaultIndexPath(ca.serial);
      assert.equal(readFileSync(index + '.attr', 'utf8'), 'unique_subject = no\n');
      const lines = readFileSync(index, 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 3);
      assert.match(lines[0]!, new RegExp(`^V\\t\\d{12}Z\\t\\t${a.serial}\\tunknown\\t/O=Demo Devices/CN=device-a$|^V\\t\\d{12}Z\\t\\t${a.serial}\\tunknown\\t/CN=device-a/O=Demo Devices$`));
      // The serial file still holds the last issued serial, as nginx-http-est writes it.
      assert.equal(readFileSync(ca.serial, 'latin1'), c.serial + '\n');

      // openssl ca -revoke on our index.txt; the running store sees it without restart.
      const cnf = opensslCaConfig(ca);
      openssl(['ca', '-config', cnf, '-revoke', a.path, '-crl_reason', 'keyCompromise']);
      const waited = await until('the revocation by openssl ca', async () => (await store.status(a.serial)) === 'revoked');
      assert.ok(waited < 3000, `took ${waited} ms`);
      assert.equal((await store.get(a.serial))!.revocationReason, 'keyCompromise');
      assert.equal(await store.status(b.serial), 'valid');

      // est-admin revoke writes an R line that openssl ca -gencrl reads.
      const r = capture();
      assert.equal(await admin(['revoke', b.serial, '--reason', 'superseded', '--serial-file', ca.serial], r.io), 0, r.err.join(''));
      assert.match(r.out.join(''), new RegExp(`revoked ${b.serial}`));
      await until('our own revocation', async () => (await store.status(b.serial)) === 'revoked');
      const gen = pki.path('openssl.crl');
      openssl(['ca', '-config', cnf, '-gencrl', '-out', gen]);
      const genText = openssl(['crl', '-in', gen, '-noout', '-text']).toString();
      assert.match(genText, new RegExp(`Serial Number: ${a.serial}[\\s\\S]*Key Compromise`));
      assert.match(genText, new RegExp(`Serial Number: ${b.serial}[\\s\\S]*Superseded`));
      assert.doesNotMatch(genText, new RegExp(`Serial Number: ${c.serial}`));

      // Our CRL: signed by the CA, checked by openssl crl -verify and openssl verify -crl_check.
      const ours = pki.path('ours.crl.pem');
      const w = capture();
      assert.equal(await admin(['crl', '--out', ours, '--pem', '--crl-number', '42', '--next-update', '3', '--serial-file', ca.serial, '--ca-cert', ca.cert, '--ca-key', ca.key], w.io), 0, w.err.join(''));
      assert.match(w.out.join(''), /2 revoked certificate\(s\)/);
      // A nextUpdate no Time can hold is a usage error naming the option, not an encoder's message.
      const far = capture();
      assert.equal(await admin(['crl', '--out', pki.path('far.crl'), '--next-update', '3000000', '--serial-file', ca.serial, '--ca-cert', ca.cert, '--ca-key', ca.key], far.io), 2);
      assert.match(far.err.join(''), /--next-update must be at most 36500 days/);
      // createCrl (the API under it) bounds both numbers itself and names the option.
      const refusals: Array<[Partial<CreateCrlOptions>, RegExp]> = [
        [{ nextUpdateDays: 3_000_000 }, /^createCrl: nextUpdateDays must be a number of days from 0 to 36500 \(got 3000000\)$/],
        [{ nextUpdateDays: Number.NaN }, /nextUpdateDays .*\(got NaN\)/],
        [{ nextUpdateDays: -1 }, /nextUpdateDays .*\(got -1\)/],
        [{ crlNumber: -1n }, /^createCrl: crlNumber must be a bigint from 0 to 2\^159 - 1, at most 20 octets \(got -1\)$/],
        [{ crlNumber: 1n << 159n }, /crlNumber .*\(got 7307508186654514591018424163581415098279662714\d+\)$/],
      ];
      for (const [opts, message] of refusals) {
        await assert.rejects(createCrl(store, { caCertificate: ca.cert, caKey: ca.key, ...opts }), (e: unknown) => e instanceof EstStoreError && e.code === 'ERR_EST_STORE_CRL_OPTION' && message.test(e.message));
      }
      // Both bounds themselves are accepted, and openssl reads them back.
      const edge = openssl(['crl', '-inform', 'DER', '-noout', '-text'], Buffer.from(await createCrl(store, { caCertificate: ca.cert, caKey: ca.key, crlNumber: (1n << 159n) - 1n, nextUpdateDays: 36_500 }))).toString();
      assert.match(edge, /CRL Number: \s*0x7F(FF){19}\b/i);
      assert.match(edge, new RegExp(`Next Update: .* ${new Date(Date.now() + 36_500 * 86_400_000).getUTCFullYear()} GMT`));
      const crlCheck = openssl(['crl', '-in', ours, '-CAfile', ca.cert, '-noout', '-text']).toString();
      assert.match(crlCheck, /CRL Number: \s*42/);
      assert.match(crlCheck, new RegExp(`Serial Number: ${a.serial}[\\s\\S]*Key Compromise`));
      const verified = (await import('node:child_process')).spawnSync('openssl', ['crl', '-in', ours, '-CAfile', ca.cert, '-noout'], { encoding: 'utf8' });
      assert.match(verified.stderr + verified.stdout, /verify OK/);
      const chain = pki.write('ca-and-crl.pem', readFileSync(ca.cert, 'latin1') + readFileSync(ours, 'latin1'));
      const revoked = (await import('node:child_process')).spawnSync('openssl', ['verify', '-crl_check', '-CAfile', chain, a.path], { encoding: 'utf8' });
      assert.notEqual(revoked.status, 0);
      assert.match(revoked.stdout + revoked.stderr, /certificate revoked/);
      assert.match(openssl(['verify', '-crl_check', '-CAfile', chain, c.path]).toString(), /OK/);

      // est-admin list / show.
      const l = capture();
      assert.equal(await admin(['list', '--subject', 'device-a', '--json', '--serial-file', ca.serial], l.io), 0);
      const listed = JSON.parse(l.out.join('')) as { total: number; records: Array<{ serial: string; status: string; requester: { user?: string } }> };
      assert.equal(listed.total, 2);
      assert.deepEqual(listed.records.map((x) => x.serial), [c.serial, a.serial]);
      assert.equal(listed.records[1]!.status, 'revoked');
      assert.equal(listed.records[0]!.requester.user, 'estuser');
      const byLabel = capture();
      assert.equal(await admin(['list', '--label', 'devices', '--serial-file', ca.serial], byLabel.io), 0);
      assert.match(byLabel.out.join(''), /1 of 1 record/);
      const soon = capture();
      assert.equal(await admin(['list', '--expiring-within', '31', '--serial-file', ca.serial], soon.io), 0);
      assert.match(soon.out.join(''), /3 of 3 record/);
      const none = capture();
      assert.equal(await admin(['list', '--expiring-within', '2', '--serial-file', ca.serial], none.io), 0);
      assert.match(none.out.join(''), /0 of 0 record/);
      const pem = capture();
      assert.equal(await admin(['show', c.serial.toLowerCase(), '--pem', '--serial-file', ca.serial], pem.io), 0);
      assert.equal(pem.out.join(''), c.pem);
      const txt = capture();
      assert.equal(await admin(['show', a.serial, '--serial-file', ca.serial], txt.io), 0);
      assert.match(txt.out.join(''), /status: +revoked \(keyCompromise/);
      assert.match(txt.out.join(''), /sans: +DNS:dev\.example, IP:192\.0\.2\.9/);
      assert.match(txt.out.join(''), /requester: +auth-request:estuser/);
    } finally {
      await store.close();
    }
  });

  test('revoking an unknown serial: 404 from the store, exit 1 with a clear message from est-admin', async () => {
    const ca = pki.ca('p256');
    const store = fileStore(ca.serial);
    try {
      await issuer(pki, ca, store)();
      await assert.rejects(store.revoke('DEADBEEF', 'keyCompromise', 'spec'), (e: EstStoreError) => e.code === 'ERR_EST_STORE_UNKNOWN_SERIAL' && e.status === 404);
      const r = capture();
      assert.equal(await admin(['revoke', 'DEADBEEF', '--serial-file', ca.serial], r.io), 1);
      assert.match(r.err.join(''), /^est-admin: serial DEADBEEF was never issued by this CA/);
      const u = capture();
      assert.equal(await admin(['revoke', 'DEADBEEF', '--reason', 'bored', '--serial-file', ca.serial], u.io), 2);
      assert.match(u.err.join(''), /unknown --reason "bored"/);
    } finally {
      await store.close();
    }
  });

  test('a corrupt index.txt line is refused at start-up with file:line', () => {
    const ca = pki.ca('p256');
    const index = defaultIndexPath(ca.serial);
    writeFileSync(index, 'V\t300101000000Z\t\t01\tunknown\t/CN=a\nV\t300101000000Z\t\t02\tunknown\t/CN=b\nV\t3001010000Z\t\t03\tunknown\t/CN=c\n');
    assert.throws(() => fileStore(ca.serial), (e: EstStoreError) => e.code === 'ERR_EST_STORE_INDEX' && e.message === `${index}:3: expiry "3001010000Z" is not YYMMDDHHMMSSZ`);
    writeFileSync(index, 'V\t300101000000Z\t\t01\tunknown\t/CN=a\nV\t300101000000Z\t\t0001\tunknown\t/CN=b\n');
    assert.throws(() => fileStore(ca.serial), (e: EstStoreError) => e.message === `${index}:2: serial 01 already on line 1`);
  });

  test('index.txt is read in chunks: line numbers, duplicates, lines split between chunks and a line longer than a chunk are right', async () => {
    const ca = pki.ca('p256');
    const index = defaultIndexPath(ca.serial);
    // ~6 MB of lines with a long subject, so that lines straddle the 64 KB chunk boundaries; one
    // line, halfway, is longer than a chunk.
    const subject = '/O=Chunked/CN=' + 'x'.repeat(150);
    const lines: string[] = [];
    for (let i = 1; i <= 36_000; i++) lines.push(`V\t300101000000Z\t\t${(0x100000 + i).toString(16).toUpperCase()}\tunknown\t${i === 18_000 ? '/OU=' + 'y'.repeat(100_000) : subject}`);
    writeFileSync(index, lines.join('\n') + '\n');
    const store = fileStore(ca.serial, 0);
    try {
      // Every line is known, the one across the chunk boundary included.
      for (let i = 1; i <= 36_000; i++) assert.equal(await store.status((0x100000 + i).toString(16)), 'valid', `line ${i}`);
      assert.equal(await store.status((0x100000 + 36_001).toString(16)), 'unknown');
      // Lines without a ledger entry are read at their offset, across the boundary too.
      const t0 = performance.now();
      const page = await store.list({ limit: 3, offset: 22_069 });
      assert.equal(page.total, 36_000);
      assert.deepEqual(page.records.map((r) => r.serial), [22_070, 22_071, 22_072].map((i) => (0x100000 + i).toString(16).toUpperCase()));
      assert.ok(page.records.every((r) => r.subject === subject), page.records[0]?.subject);
      assert.ok(performance.now() - t0 < 2000, 'a page of list() reads only its own lines');
      assert.equal((await store.get((0x100000 + 35_999).toString(16)))?.serial, (0x100000 + 35_999).toString(16).toUpperCase());
    } finally {
      await store.close();
    }
    appendFileSync(index, 'V\t300101000000Z\t\t0100010\tunknown\t/CN=again\nV\tsoon\t\t01\tunknown\t/CN=bad\n');
    assert.throws(() => fileStore(ca.serial), (e: EstStoreError) => e.message === `${index}:36001: serial 100010 already on line 16`);
    writeFileSync(index, lines.join('\n') + '\nV\tsoon\t\t01\tunknown\t/CN=bad\n');
    assert.throws(() => fileStore(ca.serial), (e: EstStoreError) => e.code === 'ERR_EST_STORE_INDEX' && e.message.startsWith(`${index}:36001: expiry "soon"`));
  });

  test("index.txt's line offsets are taken on first need, by a scan that lines appended meanwhile and a rewrite do not confuse", async () => {
    const ca = pki.ca('p256');
    const index = defaultIndexPath(ca.serial);
    const serial = (i: number) => (0x300000 + i).toString(16).toUpperCase();
    // openssl ca's lines (no ledger), lowercase and zero-padded serials among them, one line
    // longer than the scan's 256 KB buffer, ~1.5 MB in all: several chunks.
    const subject = (i: number) => `/CN=s${i}${i === 9_000 ? '/OU=' + 'y'.repeat(300_000) : ''}`;
    const line = (i: number) => `V\t300101000000Z\t\t${i % 5 === 0 ? '00' + serial(i).toLowerCase() : serial(i)}\tunknown\t${subject(i)}`;
    writeFileSync(index, Array.from({ length: 20_000 }, (_, i) => line(i)).join('\n') + '\n');
    const store = fileStore(ca.serial, 0);
    const held = () => (store as unknown as { lineOffset?: unknown }).lineOffset !== undefined;
    try {
      assert.equal(await store.status(serial(19_999)), 'valid');
      assert.equal(held(), false, 'loading and status() take no offsets');
      // The first get() starts the scan; another writer appends while it runs.
      const first = store.get(serial(15_000));
      appendFileSync(index, Array.from({ length: 3 }, (_, k) => line(20_000 + k)).join('\n') + '\n');
      await new Promise((r) => setImmediate(r)); // status() looks at the file once a turn
      assert.equal(await store.status(serial(20_002)), 'valid');
      assert.equal((await first)?.subject, '/CN=s15000');
      assert.equal(held(), true);
      for (const i of [0, 5, 8_999, 9_000, 9_001, 19_999, 20_000, 20_002]) assert.equal((await store.get(serial(i)))?.subject, subject(i), `line ${i}`);
      // A rewrite (openssl ca -revoke does one): reloaded whole, the offsets with it.
      writeFileSync(index + '.new', [line(20_002), line(7)].join('\n') + '\n');
      renameSync(index + '.new', index);
      assert.equal(await store.status(serial(8)), 'unknown');
      assert.equal((await store.get(serial(7)))?.subject, '/CN=s7');
      assert.equal((await store.get(serial(20_002)))?.subject, '/CN=s20002');
    } finally {
      await store.close();
    }
  });

  test('index.txt sized from its first chunk: too few or too many entries reserved, and lines appended past the headroom, all keep their status', async () => {
    const ca = pki.ca('p256');
    const index = defaultIndexPath(ca.serial);
    const serial = (i: number) => (0x200000 + i).toString(16).toUpperCase();
    const line = (i: number, long: boolean) => `${i % 7 === 3 ? 'R' : 'V'}\t300101000000Z\t${i % 7 === 3 ? '260101000000Z,keyCompromise' : ''}\t${serial(i)}\tunknown\t/CN=${long ? 'l'.repeat(900) : 's'}${i}`;
    // First chunk of long lines then short ones (the estimate far too low: the arrays grow while
    // loading), and the other way round (far too high: bounded by the file's size).
    for (const longFirst of [true, false]) {
      const count = 30_000;
      writeFileSync(index, Array.from({ length: count }, (_, i) => line(i, longFirst ? i < 500 : i >= 500)).join('\n') + '\n');
      const store = fileStore(ca.serial, 0);
      try {
        for (let i = 0; i < count; i++) assert.equal(await store.status(serial(i)), i % 7 === 3 ? 'revoked' : 'valid', `${longFirst} line ${i}`);
        // Another process appends twice as many lines again: past any headroom, read as they come.
        for (let part = 0; part < 4; part++) {
          const from = count + part * 15_000;
          appendFileSync(index, Array.from({ length: 15_000 }, (_, k) => line(from + k, false)).join('\n') + '\n');
          await new Promise((r) => setImmediate(r));
          assert.equal(await store.status(serial(from + 14_999)), (from + 14_999) % 7 === 3 ? 'revoked' : 'valid');
        }
        for (let i = 0; i < count * 3; i += 13) assert.equal(await store.status(serial(i)), i % 7 === 3 ? 'revoked' : 'valid', `${longFirst} line ${i}`);
        assert.equal((await store.revoked()).length, Math.ceil((count * 3 - 3) / 7));
      } finally {
        await store.close();
      }
    }
  });

  test('two stores on one set of files (two processes): each sees the other at once; group commit keeps every record', async () => {
    const ca = pki.ca('p256');
    const s1 = fileStore(ca.serial, 0);
    const s2 = fileStore(ca.serial, 0);
    try {
      const i1 = issuer(pki, ca, s1);
      const i2 = issuer(pki, ca, s2);
      const got = await Promise.all(Array.from({ length: 60 }, (_, n) => (n % 2 ? i1 : i2)(`/CN=dev-${n % 3}`)));
      const serials = new Set(got.map((g) => g.serial));
      assert.equal(serials.size, 60);
      for (const g of got) {
        assert.equal(await s1.status(g.serial), 'valid');
        assert.equal(await s2.status(g.serial), 'valid');
      }
      assert.equal(readFileSync(defaultIndexPath(ca.serial), 'utf8').trimEnd().split('\n').length, 60);
      assert.equal((await s1.list({ limit: 1000 })).total, 60);
      // A revocation by one is seen by the other.
      await s1.revoke(got[7]!.serial, 'cessationOfOperation', 'spec');
      // Watching is off: status() itself notices the replaced file (one stat) and reloads it.
      assert.equal(await s2.status(got[7]!.serial), 'revoked');
      assert.equal((await s2.get(got[7]!.serial))!.revokedBy, 'spec');
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  test('group commit: the next batch is appended while one waits for its fdatasync, two in flight and never three; each record() resolves only once its lines are synced', async () => {
    const ca = pki.ca('p256');
    const store = fileStore(ca.serial, 0);
    const indexPath = defaultIndexPath(ca.serial);
    const realSync = fs.fdatasync;
    let inFlight = 0;
    let most = 0;
    // The largest size of each file (by inode) that a completed fdatasync covered.
    const synced = new Map<number, number>();
    fs.fdatasync = ((fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => {
      const { ino, size } = fs.fstatSync(fd);
      inFlight++;
      most = Math.max(most, inFlight);
      // A slow disk: each sync takes 40 ms, so batches queue behind it.
      setTimeout(() => realSync(fd, (e) => {
        inFlight--;
        synced.set(ino, Math.max(synced.get(ino) ?? 0, size));
        cb(e);
      }), 40);
    }) as typeof fs.fdatasync;
    syncBuiltinESMExports();
    try {
      const der = new Uint8Array(openssl(['x509', '-in', pki.clientCert(ca).cert, '-outform', 'DER']));
      const seenAtResolve = new Map<string, { index: number; ledger: number }>();
      const inos = () => ({ index: fs.statSync(indexPath).ino, ledger: fs.statSync(indexPath + '.ledger').ino });
      const wave = (base: number) =>
        Promise.all(Array.from({ length: 5 }, (_, j) => {
          const serial = (0x30000000 + base + j).toString(16).toUpperCase();
          return store.record(recordInput(serial, { certificate: der })).then(() => {
            const i = inos();
            seenAtResolve.set(serial, { index: synced.get(i.index) ?? 0, ledger: synced.get(i.ledger) ?? 0 });
          });
        }));
      // Three waves 10 ms apart: the second is written while the first waits; the third waits for one of them.
      const waves = [wave(0)];
      await delay(10);
      waves.push(wave(10));
      await delay(10);
      waves.push(wave(20));
      await Promise.all(waves);
      // Each record resolved only after a completed fdatasync covered its index.txt line and its ledger line.
      const indexText = fs.readFileSync(indexPath, 'latin1');
      const ledgerText = fs.readFileSync(indexPath + '.ledger', 'latin1');
      assert.equal(seenAtResolve.size, 15);
      for (const [serial, at] of seenAtResolve) {
        const indexEnd = indexText.indexOf('\n', indexText.indexOf(`\t${serial}\t`)) + 1;
        const ledgerEnd = ledgerText.indexOf('\n', ledgerText.indexOf(`${serial}\t`)) + 1;
        assert.ok(indexEnd > 0 && indexEnd <= at.index, `${serial}: index.txt line ends at ${indexEnd}, synced up to ${at.index} when record() resolved`);
        assert.ok(ledgerEnd > 0 && ledgerEnd <= at.ledger, `${serial}: ledger line ends at ${ledgerEnd}, synced up to ${at.ledger} when record() resolved`);
      }
      assert.equal(most, 4, 'two batches in flight, each syncing index.txt and the ledger');
    } finally {
      fs.fdatasync = realSync;
      syncBuiltinESMExports();
      await store.close();
    }
  });

  test('status() stats index.txt once per turn of the event loop: a revocation written meanwhile is seen from the next turn', async () => {
    await withFileStore(0, async ({ ca, store, issue }) => {
      const a = await issue('/CN=a');
      const b = await issue('/CN=b');
      const index = defaultIndexPath(ca.serial);
      const first = store.status(a.serial); // this turn's stat
      // openssl ca -revoke, done between two requests of one turn: a new file renamed into place.
      const text = readFileSync(index, 'utf8');
      const revoked = revokedInText(text, 'keyCompromise', b.serial);
      assert.notEqual(revoked, text);
      rewriteIndex(index, revoked);
      assert.deepEqual(await Promise.all([first, store.status(b.serial)]), ['valid', 'valid'], 'the same turn shares the first stat');
      await new Promise((r) => setImmediate(r));
      assert.equal(await store.status(b.serial), 'revoked', 'the next turn stats again');
      assert.equal(await store.status(a.serial), 'valid');
    });
  });

  test('after index.txt is replaced or deleted, or the ledger moved away, the next record goes to the file the path names', async () => {
    await withFileStore(0, async ({ ca, store, issue }) => {
      const index = defaultIndexPath(ca.serial);
      const a = await issue('/CN=a');
      // openssl ca -revoke: a new index.txt renamed over the one the store last appended to.
      rewriteIndex(index, revokedInText(readFileSync(index, 'utf8'), 'superseded'));
      const b = await issue('/CN=b');
      assert.match(readFileSync(index, 'utf8'), new RegExp(`^R\\t.*\\t${a.serial}\\t.*\\nV\\t.*\\t${b.serial}\\t`, 's'));
      assert.equal(await store.status(a.serial), 'revoked');

      renameSync(index + '.ledger', index + '.ledger.moved');
      const c = await issue('/CN=c');
      const cKey = c.serial.replace(/^0+/, ''); // the ledger's key: hex without leading zeros
      assert.match(readFileSync(index + '.ledger', 'utf8'), new RegExp(`^${cKey}\\tI\\t`));
      assert.doesNotMatch(readFileSync(index + '.ledger.moved', 'utf8'), new RegExp(cKey));

      unlinkSync(index);
      const d = await issue('/CN=d');
      assert.match(readFileSync(index, 'utf8'), new RegExp(`\\t${d.serial}\\t`));
      assert.equal(await store.status(d.serial), 'valid');
    });
  });

  test('a line lost to a concurrent rewrite of index.txt (openssl ca copying it before our append) is restored', async () => {
    await withFileStore(100, async ({ ca, store, issue }) => {
      const a = await issue('/CN=a');
      const b = await issue('/CN=b');
      const index = defaultIndexPath(ca.serial);
      const lines = readFileSync(index, 'utf8').trimEnd().split('\n');
      // What openssl ca -revoke would write had it read the file before b's line was appended.
      rewriteIndex(index, revokedInText(lines[0]! + '\n', 'superseded'));
      await until('b restored', async () => readFileSync(index, 'utf8').includes(`\t${b.serial}\t`));
      assert.equal(await store.status(a.serial), 'revoked');
      assert.equal(await store.status(b.serial), 'valid');
    });
  });

  test('pending requests: stored durably, the same key returns the same request, decided once', async () => {
    const ca = pki.ca('p256');
    const store = fileStore(ca.serial, 0);
    try {
      const base = {
        key: 'k1', operation: 'simpleenroll' as const, csr: new Uint8Array([1, 2, 3]), subject: 'CN=x', sans: [], keyType: 'EC P-256',
        requester: { method: 'auth-request' as const, user: 'u' }, peerAddress: '192.0.2.1', requestId: 'r1',
        createdAt: new Date(), expiresAt: new Date(Date.now() + 60_000),
      };
      const p1 = await store.putPending(base);
      const p2 = await store.putPending({ ...base, requestId: 'r2' });
      assert.equal(p1.id, p2.id);
      assert.equal(p1.state, 'pending');
      const other = fileStore(ca.serial, 0); // another process reads it from the file
      assert.deepEqual((await other.pendingByKey('k1'))?.csr, new Uint8Array([1, 2, 3]));
      const d = await other.decide(p1.id, { state: 'approved', by: 'alice' });
      assert.equal(d.decidedBy, 'alice');
      await assert.rejects(store.decide(p1.id, { state: 'denied', by: 'bob' }), (e: EstStoreError) => e.code === 'ERR_EST_STORE_DECIDED' && e.status === 409);
      assert.equal((await store.decide(p1.id, { state: 'issued', by: 'est', serial: '0A' })).serial, '0A');
      assert.equal((await store.listPending({ state: 'issued' })).total, 1);
      const expired = await store.putPending({ ...base, key: 'k2', expiresAt: new Date(Date.now() - 1) });
      assert.equal(expired.state, 'expired');
      await other.close();
    } finally {
      await store.close();
    }
  });

  test('start-up with 1,000,000 records takes under 5 s; status() answers from memory', async () => {
    const ca = pki.ca('p256');
    const index = defaultIndexPath(ca.serial);
    const start = INDEX_LINES_START;
    writeIndexLines(index, 1_000_000);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const store = fileStore(ca.serial, 0);
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const ms = performance.now() - t0;
    try {
      // CPU time, not wall time: on 2 shared cores other processes stretch the wall clock.
      assert.ok(cpuMs < 5000, `start-up took ${cpuMs.toFixed(0)} ms of CPU (${ms.toFixed(0)} ms wall)`);
      assert.equal(await store.status((start + 7n).toString(16)), 'revoked');
      assert.equal(await store.status((start + 999_999n).toString(16)), 'valid');
      assert.equal(await store.status('FFFFFFFFFF'), 'unknown');
      assert.equal((await store.revoked()).length, 1000);
      // Each status() is a map lookup and one stat of index.txt (to see changes by other processes).
      const t1 = performance.now();
      for (let i = 0; i < 10_000; i++) await store.status((start + BigInt(i)).toString(16));
      const perCall = (performance.now() - t1) / 10_000;
      assert.ok(perCall < 0.2, `${perCall.toFixed(3)} ms per status()`);
      console.log(`# 1,000,000-line index.txt loaded in ${ms.toFixed(0)} ms (${cpuMs.toFixed(0)} ms CPU)`);
    } finally {
      await store.close();
    }
    assert.ok(existsSync(index));
  });

  test('memory: ~100 bytes per recorded certificate, the index text it was read from not kept alive', () => {
    // Keys sliced out of the text read back after each batch kept that whole text alive (~175 B a
    // record); the soak's RSS grew with it. Heap after a full GC, over 30,000 records, in a child
    // process (spec/helpers/store-memory.ts): here, earlier tests' garbage freed meanwhile hid ~55 B.
    const ca = pki.ca('p256');
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(import.meta.dirname, '../helpers/store-memory.ts'), ca.cert, ca.serial], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const { perRecord, status } = JSON.parse(r.stdout) as { perRecord: number; status: string };
    assert.equal(status, 'valid');
    assert.ok(perRecord < 140, `${perRecord.toFixed(0)} bytes of heap per record`);
    console.log(`# ${perRecord.toFixed(0)} bytes of heap per recorded certificate`);
  });
});

describe('the ledger (<index>.ledger)', () => {
  /** The ledger's lines, keyed by serial key. */
  const ledgerLines = (index: string) => new Map(readFileSync(index + '.ledger', 'utf8').trimEnd().split('\n').map((l) => [l.split('\t')[0]!, l]));

  test('read once, then followed: after index.txt is rewritten in another order, each record still has its own ledger details, newest first', async () => {
    await withFileStore(0, async ({ ca, store, issue }) => {
      const got = [];
      for (const cn of ['a', 'b', 'c']) got.push(await issue(`/CN=${cn}`));
      assert.equal((await store.get(got[0]!.serial))!.subject, 'CN=a'); // the ledger is read now
      // A person's edit: the same lines in another order, b revoked. The store reloads the whole file.
      const index = defaultIndexPath(ca.serial);
      const [la, lb, lc] = readFileSync(index, 'utf8').trimEnd().split('\n');
      rewriteIndex(index, [lc, revokedInText(lb! + '\n', 'superseded').trimEnd(), la].join('\n') + '\n');
      const d = await issue('/CN=d');
      for (const [g, cn] of [[got[0]!, 'a'], [got[1]!, 'b'], [got[2]!, 'c'], [d, 'd']] as const) {
        const r = (await store.get(g.serial))!;
        assert.equal(r.subject, `CN=${cn}`);
        assert.equal(r.requester.user, 'estuser', 'from the ledger, not index.txt alone');
        assert.deepEqual(Buffer.from(r.certificate), Buffer.from(g.der));
      }
      assert.equal((await store.get(got[1]!.serial))!.status, 'revoked');
      assert.deepEqual((await store.list()).records.map((r) => r.subject), ['CN=d', 'CN=a', 'CN=b', 'CN=c'], 'index.txt order, last first');
      assert.deepEqual((await store.list({ status: 'revoked' })).records.map((r) => r.subject), ['CN=b']);
      assert.deepEqual((await store.list({ serial: got[2]!.serial.toLowerCase() })).records.map((r) => r.subject), ['CN=c']);
      assert.deepEqual(await store.list({ serial: 'not hex' }), { records: [], total: 0 });
    });
  });

  test('a ledger line read before its index.txt line (another writer between its two appends) is matched once the line arrives', async () => {
    await withFileStore(0, async ({ ca, store, issue }) => {
      const a = await issue('/CN=a');
      await issue('/CN=b');
      await store.get(a.serial);
      const index = defaultIndexPath(ca.serial);
      // Another process's record of serial ABCDEF01: its ledger line is appended, its index line not yet.
      const line = ledgerLines(index).get(a.serial.replace(/^0+/, ''))!;
      appendFileSync(index + '.ledger', line.replace(/^[0-9A-F]+\t/, 'ABCDEF01\t').replace('"requestId":"req-1"', '"requestId":"other-writer"') + '\n');
      assert.equal((await store.get(a.serial))!.subject, 'CN=a'); // the ledger is read up to its end
      assert.equal(await store.get('ABCDEF01'), undefined, 'not in index.txt: not issued yet');
      appendFileSync(index, formatIndexLine('V', new Date('2030-01-01T00:00:00Z'), 'ABCDEF01', '/CN=a') + '\n');
      const r = (await store.get('abcdef01'))!;
      assert.equal(r.requestId, 'other-writer');
      const page = await store.list({ limit: 1 });
      assert.equal(page.records[0]!.serial, 'ABCDEF01', 'listed first, as the newest ledger record');
      assert.equal(page.total, 3);
    });
  });

  test('a ledger file replaced by another is read again from its start', async () => {
    await withFileStore(0, async ({ ca, store, issue }) => {
      const a = await issue('/CN=a');
      const b = await issue('/CN=b');
      assert.equal((await store.get(b.serial))!.subject, 'CN=b');
      const index = defaultIndexPath(ca.serial);
      // A restore from backup with b's line alone, now at offset 0 (a's was there before).
      const bLine = ledgerLines(index).get(b.serial.replace(/^0+/, ''))!;
      writeFileSync(index + '.ledger.new', bLine.replace('"requestId":"req-1"', '"requestId":"restored"') + '\n');
      renameSync(index + '.ledger.new', index + '.ledger');
      assert.equal((await store.get(b.serial))!.requestId, 'restored');
      const aNow = (await store.get(a.serial))!;
      assert.equal(aNow.requester.method, 'none', 'only what index.txt knows');
      assert.equal(aNow.certificate.length, 0);
    });
  });

  test('a damaged ledger line: the record is what index.txt knows, the operator is told, a search still answers; a junk key is ignored', async () => {
    const ca = pki.ca('p256');
    const serial = new FileSerialStore(ca.serial);
    const errors: Error[] = [];
    const store = new FileRecordStore({ indexPath: defaultIndexPath(ca.serial), serialStore: serial, lock: serial.lock, watchIntervalMs: 0, closeSerialStore: true, onError: (e) => void errors.push(e) });
    try {
      const issue = issuer(pki, ca, store);
      const a = await issue('/CN=a');
      const b = await issue('/CN=b');
      const index = defaultIndexPath(ca.serial);
      // b's JSON cut short, as a hand edit or a torn copy might leave it; then a line with a junk key.
      const lines = readFileSync(index + '.ledger', 'utf8').split('\n');
      const bAt = lines.findIndex((l) => l.startsWith(b.serial.replace(/^0+/, '') + '\t'));
      lines[bAt] = lines[bAt]!.replace(/"requestId":"req-1".*$/, '"requestId":');
      writeFileSync(index + '.ledger', lines.join('\n') + 'X'.repeat(100_000) + '\tI\t{}\t\n');
      const r = (await store.get(b.serial))!;
      assert.equal(r.status, 'valid');
      assert.equal(r.requester.method, 'none', 'only what index.txt knows');
      assert.ok(errors.some((e) => (e as EstStoreError).code === 'ERR_EST_STORE_LEDGER' && e.message.includes(`the line of serial ${b.serial} at byte`)), errors.map((e) => e.message).join('; '));
      assert.equal((await store.get(a.serial))!.requester.user, 'estuser');
      const found = await store.list({ subject: 'cn=' });
      assert.equal(found.total, 2);
      assert.deepEqual(found.records.map((x) => x.serial).sort(), [a.serial, b.serial].sort());
      // est-admin shows the record and says why it is short.
      const shown = capture();
      assert.equal(await admin(['show', b.serial, '--serial-file', ca.serial], shown.io), 0, shown.err.join(''));
      assert.match(shown.err.join(''), new RegExp(`^est-admin: warning: .*\\.ledger: the line of serial ${b.serial} at byte \\d+ cannot be read`));
    } finally {
      await store.close();
    }
  });

  test('searches page and count right: subject (raw-line prefilter or not), label, expiry, an offset, a damaged line off the page', async () => {
    const errors: Error[] = [];
    const ca = pki.ca('p256');
    const serial = new FileSerialStore(ca.serial);
    const store = new FileRecordStore({ indexPath: defaultIndexPath(ca.serial), serialStore: serial, lock: serial.lock, watchIntervalMs: 0, closeSerialStore: true, onError: (e) => void errors.push(e) });
    try {
      const issue = issuer(pki, ca, store);
      const got: Array<Awaited<ReturnType<typeof issue>>> = [];
      for (let n = 0; n < 7; n++) got.push(await issue(`/CN=s${n}/O=Search Devices`, n % 2 ? undefined : 'iot'));
      const subjects = async (q: Parameters<FileRecordStore['list']>[0]) => {
        const r = await store.list(q);
        return [r.total, r.records.map((x) => x.subject.split(', ').find((p) => p.startsWith('CN='))!)];
      };
      assert.deepEqual(await subjects({ subject: 'cn=s', limit: 2, offset: 2 }), [7, ['CN=s4', 'CN=s3']]);
      assert.deepEqual(await subjects({ subject: 'SEARCH devices', limit: 1 }), [7, ['CN=s6']]);
      assert.deepEqual(await subjects({ label: 'iot', limit: 1, offset: 1 }), [4, ['CN=s4']]);
      assert.deepEqual(await subjects({ label: 'iot', subject: 'cn=s', status: 'valid', limit: 10, offset: 3 }), [4, ['CN=s0']]);
      assert.deepEqual(await subjects({ expiringWithinDays: 40, limit: 1, offset: 6 }), [7, ['CN=s0']]);
      assert.deepEqual(await subjects({ expiringWithinDays: 1 }), [0, []]);
      assert.deepEqual(await subjects({ subject: 'cn="s' }), [0, []], 'a character JSON escapes: every record read, none matches');
      assert.deepEqual(await subjects({ subject: 's5' }), [1, ['CN=s5']]);
      // s1's line damaged by an edit in place (the same file, so every later line moves): off the
      // page it still counts (read as index.txt knows it), and is reported.
      const index = defaultIndexPath(ca.serial);
      const text = readFileSync(index + '.ledger', 'utf8');
      const key = got[1]!.serial.replace(/^0+/, '');
      const edited = text.replace(new RegExp(`^${key}\tI\t\\{`, 'm'), `${key}\tI\t{ broken`);
      assert.notEqual(edited, text);
      writeFileSync(index + '.ledger', edited);
      const all = await store.list({ subject: 'cn=s', limit: 1 });
      assert.equal(all.total, 7);
      // Every other record is read at its new offset, with its ledger details.
      const page = await store.list({ limit: 7 });
      assert.deepEqual(page.records.map((r) => r.requester.user ?? r.requester.method), ['estuser', 'estuser', 'estuser', 'estuser', 'estuser', 'none', 'estuser']);
      assert.equal(page.records[5]!.serial, got[1]!.serial);
      assert.ok(errors.some((e) => e.message.includes(`the line of serial ${got[1]!.serial}`)), errors.map((e) => e.message).join('; '));
    } finally {
      await store.close();
    }
  });

  test('a reader beside two writers (as an admin page beside --workers 2): every record it finds, while they write and after, is the one asked for with its ledger details', async () => {
    const ca = pki.ca('p256');
    const [w1, w2, reader] = [fileStore(ca.serial, 0), fileStore(ca.serial, 0), fileStore(ca.serial, 0)];
    try {
      const der = new Uint8Array(openssl(['x509', '-in', pki.clientCert(ca).cert, '-outform', 'DER']));
      const written: string[] = [];
      // A batch of 10 records from one writer (one group commit).
      const batch = (w: FileRecordStore, base: number) =>
        Promise.all(Array.from({ length: 10 }, (_, j) => {
          const serial = (base + j).toString(16).toUpperCase();
          return w.record(recordInput(serial, { certificate: der })).then(() => void written.push(serial));
        }));
      // Rounds: both writers append a batch while the reader reads, then the reader checks.
      for (let round = 0; round < 200; round++) {
        const reading = Promise.all([reader.get(written[round * 7 % Math.max(1, written.length)] ?? '01'), reader.list({ limit: 5, offset: round % 3 })]);
        await Promise.all([batch(w1, 0x10000000 + 10 * round), batch(w2, 0x20000000 + 10 * round), reading]);
        const serial = written[(round * 13) % written.length]!;
        const r = await reader.get(serial);
        assert.equal(r?.serial, serial);
        assert.equal(r.requestId, `r-${serial}`, 'the ledger line of this serial, not another');
        const page = await reader.list({ limit: 5, offset: round % 3 });
        for (const x of page.records) assert.equal(x.requestId, `r-${x.serial}`);
        const [during, duringPage] = await reading;
        if (during) assert.equal(during.requestId, `r-${during.serial}`);
        for (const x of duringPage.records) assert.equal(x.requestId, `r-${x.serial}`);
      }
      const all = await reader.list({ limit: 4000 });
      assert.equal(all.total, 4000);
      assert.ok(all.records.every((r) => r.requestId === `r-${r.serial}`));
    } finally {
      await Promise.all([w1.close(), w2.close(), reader.close()]);
    }
  });

  test('a large ledger is read in chunks between which the event loop runs; a page of records reads only the page', async () => {
    const ca = pki.ca('p256');
    const first = fileStore(ca.serial, 0);
    const a = await issuer(pki, ca, first)('/CN=a');
    await first.close();
    // 20,000 records (~20 MB of ledger), written directly as the store writes them.
    const index = defaultIndexPath(ca.serial);
    const aKey = a.serial.replace(/^0+/, '');
    const line = ledgerLines(index).get(aKey)!;
    const indexLine = readFileSync(index, 'utf8').trimEnd();
    const ledger: string[] = [];
    const lines: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      const key = (0x10000000 + n).toString(16).toUpperCase();
      ledger.push(line.replace(/^[0-9A-F]+\t/, `${key}\t`).replace('"requestId":"req-1"', `"requestId":"r${n}"`));
      lines.push(indexLine.replace(`\t${a.serial}\t`, `\t${key}\t`));
    }
    appendFileSync(index + '.ledger', ledger.join('\n') + '\n');
    appendFileSync(index, lines.join('\n') + '\n');
    const store = fileStore(ca.serial, 0);
    try {
      let turns = 0;
      let ticking = true;
      const tick = () => {
        turns++;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      const r = (await store.get('10000007'))!;
      ticking = false;
      assert.equal(r.requestId, 'r7');
      assert.ok(turns >= 5, `the event loop turned ${turns} times while ~20 MB of ledger were read`);
      const page = await store.list({ limit: 3, offset: 1 });
      assert.equal(page.total, 20_001);
      assert.deepEqual(page.records.map((x) => x.requestId), ['r19998', 'r19997', 'r19996']);
    } finally {
      await store.close();
    }
  });
});
