// A throwaway PostgreSQL cluster for specs: initdb + pg_ctl as the postgres user, in a temp dir, on a loopback port.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface TestPostgres {
  url: string;
  port: number;
  dir: string;
  /** `pg_ctl stop -m fast`: connections are terminated. */
  stop(): void;
  /** `pg_ctl start` again on the same port and data. */
  start(): void;
  /** Runs SQL through psql as the postgres user; returns stdout. */
  psql(sql: string): string;
  /** The same in database `db`. */
  psqlIn(db: string, sql: string): string;
  /** The postmaster's pid (the first line of postmaster.pid), while running. */
  pid(): number;
  destroy(): void;
}

/** Why PostgreSQL cannot be run here, or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  if (!existsSync(join(BIN, 'initdb'))) return `PostgreSQL binaries not found in ${BIN} (apt-get install postgresql)`;
  if (spawnSync('id', ['-u', 'postgres']).status !== 0) return 'no postgres user';
  return undefined;
}

function asPostgres(cmd: string, args: string[]): string {
  const run = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] as const : [cmd, args] as const;
  return execFileSync(run[0], [...run[1]], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' }).toString();
}

/** Creates and starts a cluster (trust auth on 127.0.0.1, fsync on, small settings). */
export async function startPostgres(): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'est-pg-'));
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  if (process.getuid?.() === 0) chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  asPostgres(join(BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c max_connections=200 -c shared_buffers=64MB -c log_min_messages=fatal`;
  const start = () => {
    asPostgres(join(BIN, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '30', 'start']);
  };
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop: () => {
      asPostgres(join(BIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
    },
    start,
    psql: (sql) => asPostgres(join(BIN, 'psql'), ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-XAtq', '-c', sql]),
    psqlIn: (db, sql) => asPostgres(join(BIN, 'psql'), ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', db, '-XAtq', '-c', sql]),
    pid: () => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]),
    destroy: () => {
      try {
        asPostgres(join(BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
