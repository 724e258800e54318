// The pending-request contract against the embedded file store and PostgreSQL (the stores est() uses).
import { after, before, describe, test } from 'node:test';
import { FileSerialStore } from '../../lib/ca/serial-file-store.js';
import { FileRecordStore, defaultIndexPath } from '../../lib/store/file-store.js';
import { createPool, migrate, PostgresRecordStore } from '../../lib/store/postgres-store.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { TestPki } from '../helpers/pki.js';
import { pendingContract } from './pending-contract.js';

const pki = new TestPki();
after(() => pki.cleanup());
let n = 0;

test('FileRecordStore: the RecordStore contract (pending requests, records)', async (t) => {
  await pendingContract(t, async () => {
    const serial = new FileSerialStore(pki.path(`ca-${++n}.srl`));
    return new FileRecordStore({ indexPath: defaultIndexPath(serial.path), serialStore: serial, lock: serial.lock, watchIntervalMs: 0 });
    // Each pending request is its own locked, fsync'd write here (about 6 ms): 2,000 keep the run short.
  }, { records: false, bulk: 2_000 });
});

const noPg = postgresUnavailable();
if (noPg && process.env.CI === 'true') throw new Error(`CI: ${noPg}`);

describe('PostgresRecordStore', { skip: noPg }, () => {
  let pg: TestPostgres;
  before(async () => {
    pg = await startPostgres();
  });
  after(() => pg?.destroy());

  test('the RecordStore contract (pending requests, records)', async (t) => {
    await pendingContract(t, async () => {
      const db = `contract_${++n}`;
      pg.psql(`CREATE DATABASE ${db}`);
      const url = pg.url.replace(/\/[^/]*$/, `/${db}`);
      const pool = createPool(url);
      await migrate(pool);
      await pool.end();
      const store = new PostgresRecordStore(url);
      await store.open();
      return store;
    }, { records: false });
  });
});
