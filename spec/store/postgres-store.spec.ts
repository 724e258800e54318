// The PostgreSQL store on a real, throwaway cluster: schema, serials, records, revocation, import, faults.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { EstStoreError } from '../../lib/errors.js';
import { FileSerialStore } from '../../lib/ca/serial-file-store.js';
import { FileRecordStore, defaultIndexPath } from '../../lib/store/file-store.js';
import { createPool, migrate, PostgresRecordStore } from '../../lib/store/postgres-store.js';
import { openStore } from '../../lib/store/admin.js';
import { main as admin } from '../../lib/cli/est-admin.js';
import { openssl, TestPki } from '../helpers/pki.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { issuer } from './issue.js';

const why = postgresUnavailable();
if (why && process.env.CI === 'true') throw new Error(`PostgreSQL is required in CI: ${why}`);

const pki = new TestPki();
let pg: TestPostgres;

before(async () => {
  if (why) return;
  pg = await startPostgres();
});
after(() => {
  pg?.destroy();
  pki.cleanup();
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) }, out, err };
}

/** A fresh database in the cluster, migrated by `est-admin db migrate`. */
async function freshDb(name: string): Promise<string> {
  pg.psql(`CREATE DATABASE ${name}`);
  const url = pg.url.replace(/\/postgres$/, `/${name}`);
  const r = capture();
  assert.equal(await admin(['db', 'migrate', '--store', url], r.io), 0, r.err.join(''));
  assert.match(r.out.join(''), /schema version 1 created/);
  const again = capture();
  assert.equal(await admin(['db', 'migrate', '--store', url], again.io), 0);
  assert.match(again.out.join(''), /schema version 1 up to date/);
  return url;
}

describe('PostgreSQL store', { skip: why }, () => {
  test('serials from the sequence are distinct under concurrency; records, filters, revocation and CRL', async () => {
    const url = await freshDb('est_basic');
    const store = new PostgresRecordStore(url);
    try {
      await store.open();
      const many = await Promise.all(Array.from({ length: 500 }, () => store.nextSerials(1)));
      assert.equal(new Set(many.flat().map(String)).size, 500);
      const ca = pki.ca('p256');
      const issue = issuer(pki, ca, store);
      const a = await issue('/CN=pg-a/O=Demo', 'devices');
      const b = await issue('/CN=pg-b/O=Demo');
      assert.equal(await store.status(a.serial), 'valid');
      assert.equal(await store.status(a.serial.toLowerCase().replace(/^/, '000')), 'valid');
      assert.equal(await store.status('01'), 'unknown');
      const got = await store.get(a.serial);
      assert.deepEqual(got?.certificate, a.der);
      assert.equal(got?.label, 'devices');
      assert.deepEqual(got?.sans, ['DNS:dev.example', 'IP:192.0.2.9']);
      assert.equal(got?.requester.user, 'estuser');
      assert.equal((await store.list({ label: 'devices' })).total, 1);
      assert.equal((await store.list({ subject: 'PG-B' })).records[0]?.serial, b.serial);
      assert.equal((await store.list({ expiringWithinDays: 31 })).total, 2);
      assert.equal((await store.list({ expiringWithinDays: 1 })).total, 0);

      // A duplicate serial is refused by the primary key, not by hope.
      const dup = { ...got!, requestId: 'again' };
      await assert.rejects(store.record(dup), (e: EstStoreError) => e.code === 'ERR_EST_STORE_DUPLICATE');

      await assert.rejects(store.revoke('ABCDEF', 'keyCompromise', 'spec'), (e: EstStoreError) => e.code === 'ERR_EST_STORE_UNKNOWN_SERIAL' && e.status === 404);
      const r = capture();
      assert.equal(await admin(['revoke', a.serial, '--reason', 'keyCompromise', '--by', 'alice', '--store', url], r.io), 0, r.err.join(''));
      assert.equal(await store.status(a.serial), 'revoked');
      assert.equal((await store.get(a.serial))?.revokedBy, 'alice');
      const unknown = capture();
      assert.equal(await admin(['revoke', 'ABCDEF', '--store', url], unknown.io), 1);
      assert.match(unknown.err.join(''), /serial ABCDEF was never issued by this CA/);

      const crl = pki.path('pg.crl');
      const c = capture();
      assert.equal(await admin(['crl', '--out', crl, '--next-update', '1', '--store', url, '--ca-cert', ca.cert, '--ca-key', ca.key], c.io), 0, c.err.join(''));
      const text = openssl(['crl', '-inform', 'DER', '-in', crl, '-CAfile', ca.cert, '-noout', '-text']).toString();
      assert.match(text, new RegExp(`Serial Number: ${a.serial}[\\s\\S]*Key Compromise`));
      assert.doesNotMatch(text, new RegExp(b.serial));

      const l = capture();
      assert.equal(await admin(['list', '--status', 'revoked', '--json', '--store', url], l.io), 0);
      assert.equal((JSON.parse(l.out.join('')) as { total: number }).total, 1);
      const s = capture();
      assert.equal(await admin(['show', b.serial, '--pem', '--store', url], s.io), 0);
      assert.equal(s.out.join(''), b.pem);
    } finally {
      await store.close();
    }
  });

  test('pending requests: one per key, decided once', async () => {
    const url = await freshDb('est_pending');
    const store = new PostgresRecordStore(url);
    try {
      const base = {
        key: 'k1', operation: 'simpleenroll' as const, csr: new Uint8Array([1, 2, 3]), subject: 'CN=x', sans: ['DNS:x'], keyType: 'EC P-256',
        requester: { method: 'certificate' as const, certificateSubject: 'CN=old', certificateSerial: '01' }, peerAddress: '192.0.2.1', requestId: 'r1',
        createdAt: new Date(), expiresAt: new Date(Date.now() + 60_000),
      };
      const [p1, p2] = await Promise.all([store.putPending(base), store.putPending({ ...base, requestId: 'r2' })]);
      assert.equal(p1.id, p2.id);
      assert.deepEqual((await store.pendingById(p1.id))?.sans, ['DNS:x']);
      assert.equal((await store.decide(p1.id, { state: 'denied', by: 'bob', reason: 'unknown device' })).reason, 'unknown device');
      await assert.rejects(store.decide(p1.id, { state: 'approved', by: 'bob' }), (e: EstStoreError) => e.code === 'ERR_EST_STORE_DECIDED' && e.status === 409);
      await assert.rejects(store.decide('nope', { state: 'approved', by: 'bob' }), (e: EstStoreError) => e.status === 404);
      const old = await store.putPending({ ...base, key: 'k2', expiresAt: new Date(Date.now() - 1000) });
      assert.equal(old.state, 'expired');
      const renewed = await store.putPending({ ...base, key: 'k2' });
      assert.notEqual(renewed.id, old.id);
      assert.equal(renewed.state, 'pending');
      assert.equal((await store.listPending({ state: 'pending' })).total, 1);
      assert.equal((await store.listPending()).total, 2);
    } finally {
      await store.close();
    }
  });

  test('db import copies the serial file and index.txt; new serials continue past the highest imported', async () => {
    const ca = pki.ca('p256');
    const serial = new FileSerialStore(ca.serial);
    const file = new FileRecordStore({ indexPath: defaultIndexPath(ca.serial), serialStore: serial, lock: serial.lock, watchIntervalMs: 0, closeSerialStore: true });
    const issue = issuer(pki, ca, file);
    const issued = [];
    for (let i = 0; i < 5; i++) issued.push(await issue(`/CN=file-${i}`));
    await file.revoke(issued[1]!.serial, 'superseded', 'spec');
    await file.close();
    const lastInFile = BigInt('0x' + readFileSync(ca.serial, 'latin1').trim());

    pg.psql('CREATE DATABASE est_import');
    const url = pg.url.replace(/\/postgres$/, '/est_import');
    const r = capture();
    assert.equal(await admin(['db', 'import', '--store', url, '--serial-file', ca.serial], r.io), 0, r.err.join(''));
    assert.match(r.out.join(''), /imported 5 certificate record\(s\)/);
    const store = await openStore({ store: url });
    try {
      assert.equal(await store.status(issued[1]!.serial), 'revoked');
      assert.deepEqual((await store.get(issued[3]!.serial))?.certificate, issued[3]!.der);
      const next = await store.nextSerials(3);
      for (const n of next) assert.ok(n > lastInFile, `${n.toString(16)} must be above ${lastInFile.toString(16)}`);
      // Importing again changes nothing and still never goes backwards.
      const again = capture();
      assert.equal(await admin(['db', 'import', '--store', url, '--serial-file', ca.serial], again.io), 0);
      assert.match(again.out.join(''), /imported 0 certificate/);
      const after = await store.nextSerials(1);
      assert.ok(after[0]! > next[2]!);
    } finally {
      await store.close();
    }
  });

  test('unreachable, unmigrated and bad URLs fail at open; a stopped or killed database gives 503 and comes back by itself', async () => {
    await assert.rejects(new PostgresRecordStore('postgres://postgres@127.0.0.1:1/x').open(), (e: EstStoreError) => e.code === 'ERR_EST_STORE_UNAVAILABLE' && /cannot reach postgres:\/\/postgres@127\.0\.0\.1:1\/x/.test(e.message));
    const bare = new PostgresRecordStore(pg.url);
    await assert.rejects(bare.open(), (e: EstStoreError) => e.code === 'ERR_EST_STORE_SCHEMA' && /est-admin db migrate/.test(e.message));
    await bare.close();
    const bad = capture();
    assert.equal(await admin(['list', '--store', 'mysql://x'], bad.io), 1);
    assert.match(bad.err.join(''), /store must be a postgres:\/\/ URL/);

    const url = await freshDb('est_faults');
    const pool = createPool(url);
    await migrate(pool);
    const store = new PostgresRecordStore(pool);
    try {
      await store.open();
      await store.nextSerials(1);
      pg.psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'est_faults' AND pid <> pg_backend_pid()`);
      // The killed connection fails at most the calls in flight; the next ones get a new connection.
      let ok = false;
      for (let i = 0; i < 3 && !ok; i++) {
        try {
          await store.nextSerials(1);
          ok = true;
        } catch (e) {
          assert.equal((e as EstStoreError).code, 'ERR_EST_STORE_UNAVAILABLE');
          assert.equal((e as EstStoreError).status, 503);
        }
      }
      assert.ok(ok);
      pg.stop();
      await assert.rejects(store.nextSerials(1), (e: EstStoreError) => e.status === 503 && e.retryAfter === 5);
      await assert.rejects(store.check(), (e: EstStoreError) => e.code === 'ERR_EST_STORE_UNAVAILABLE');
      pg.start();
      await store.check();
      assert.equal((await store.nextSerials(2)).length, 2);
    } finally {
      await store.close();
      await pool.end();
    }
  });
});
