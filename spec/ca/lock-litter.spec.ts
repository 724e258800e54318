// Scratch files left by kill -9 next to the serial file: the next process to start, or the stale-lock breaker, removes those of dead processes.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HOST_TAG } from '../../lib/ca/lock-litter.js';
import { FileSerialStore } from '../../lib/ca/serial-file-store.js';
import { TestPki } from '../helpers/pki.js';

const pki = new TestPki();
after(() => pki.cleanup());

/** A process that writes scratch files named after its own pid (as the lock code does), then waits to be killed. */
function litterer(serial: string, withLock: boolean): Promise<{ child: ChildProcess; pid: number }> {
  const code = `
    const fs = require('node:fs'); const os = require('node:os');
    const [serial, withLock] = process.argv.slice(1);
    const token = process.pid + ' ' + os.hostname() + ' 0123456789abcdef ' + Date.now() + '\\n';
    fs.writeFileSync(serial + '.lock.new-' + process.pid + '-a1b2c3', token);
    const path = require('node:path');
    fs.writeFileSync(path.join(path.dirname(serial), '.' + path.basename(serial) + '.tmp-' + process.pid + '-d4e5f6'), '1001\\n');
    fs.writeFileSync(serial + '.lock.stale-' + process.pid + '-0a0b0c', token);
    if (withLock === 'lock') fs.writeFileSync(serial + '.lock', token);
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', code, serial, withLock ? 'lock' : ''], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve({ child, pid: child.pid! }));
    child.once('error', reject);
  });
}

async function kill9(child: ChildProcess): Promise<void> {
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await gone;
}

const scratch = (serial: string) => readdirSync(dirname(serial)).filter((n) => n.startsWith(basename(serial) + '.') || n.startsWith(`.${basename(serial)}.`));
const tmpOf = (serial: string, pid: number) => join(dirname(serial), `.${basename(serial)}.tmp-${pid}-d4e5f6`);

/** Backdates the files whose judgement needs age (no host in them) past the 1 s grace. */
function backdate(serial: string, pid: number): void {
  const past = new Date(Date.now() - 5000);
  for (const f of [tmpOf(serial, pid), `${serial}.lock.stale-${pid}-0a0b0c`]) utimesSync(f, past, past);
}

describe('lock litter', () => {
  it('the next process to start removes the scratch files of a process killed with SIGKILL, and keeps a live one’s', async () => {
    const serial = pki.write('litter.srl', '1000\n');
    const dead = await litterer(serial, false);
    const live = await litterer(serial, false);
    await kill9(dead.child);
    backdate(serial, dead.pid);
    backdate(serial, live.pid);
    assert.equal(scratch(serial).length, 6);
    const store = new FileSerialStore(serial);
    const left = scratch(serial);
    assert.deepEqual(left.filter((n) => n.includes(`-${dead.pid}-`)), [], `left: ${left.join(' ')}`);
    assert.equal(left.filter((n) => n.includes(`-${live.pid}-`)).length, 3, 'a live process keeps its files');
    await store.close();
    await kill9(live.child);
  });

  it('the stale-lock breaker removes them too, for a holder killed after this process started', async () => {
    const serial = pki.write('litter-lock.srl', '2000\n');
    const store = new FileSerialStore(serial, { lockTimeoutMs: 5000 });
    const holder = await litterer(serial, true);
    await kill9(holder.child);
    backdate(serial, holder.pid);
    assert.ok(existsSync(serial + '.lock'));
    const [s] = await store.next(1);
    assert.equal(s, 0x2001n);
    assert.deepEqual(scratch(serial), [], 'the dead lock and every scratch file are gone');
    await store.close();
  });

  it('a scratch file of a dead pid from another host is left alone while young', async () => {
    const serial = pki.write('litter-host.srl', '3000\n');
    // pid 2^22+ is above Linux's default pid_max: surely not alive here.
    const name = `${serial}.lock.new-4194999-abcdef`;
    writeFileSync(name, `4194999 some-other-host-than-${hostname()} 00 ${Date.now()}\n`);
    const store = new FileSerialStore(serial);
    assert.ok(existsSync(name), 'young, and not this host’s');
    const past = new Date(Date.now() - 5000);
    utimesSync(name, past, past);
    await store.close();
    const again = new FileSerialStore(serial);
    assert.ok(!existsSync(name), 'older than the grace period: litter');
    await again.close();
  });

  it('an empty lock token (killed between creating it and writing it) of a dead pid is removed at once when its name carries this host', async () => {
    const serial = pki.write('litter-empty.srl', '4000\n');
    const ours = `${serial}.lock.new-4194998-${HOST_TAG}0a0b0c0d0e0f`;
    const theirs = `${serial}.lock.new-4194997-${HOST_TAG === '00000000' ? '11111111' : '00000000'}0a0b0c0d0e0f`;
    writeFileSync(ours, '');
    writeFileSync(theirs, '');
    const store = new FileSerialStore(serial);
    assert.ok(!existsSync(ours), 'this host’s, pid dead: litter however young');
    assert.ok(existsSync(theirs), 'another host’s (by its tag), young: left alone');
    await store.close();
  });
});
