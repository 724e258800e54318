// ipAddressBytes: the one IP text -> iPAddress octets conversion, checked against OpenSSL's own encoding.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Oid } from '../../lib/protocol/constants.js';
import { children, content, readWhole, Tag } from '../../lib/protocol/der.js';
import { ipAddressBytes } from '../../lib/protocol/ip-address.js';
import { parseCsr } from '../../lib/protocol/pkcs10.js';

const hex = (s: string) => Buffer.from(ipAddressBytes(s)).toString('hex');

test('IPv4 gives 4 octets, every IPv6 form gives the same 16', () => {
  assert.equal(hex('192.0.2.7'), 'c0000207');
  assert.equal(hex('::1'), '0'.repeat(31) + '1');
  assert.equal(hex('::'), '0'.repeat(32));
  assert.equal(hex('1::'), '0001' + '0'.repeat(28));
  assert.equal(hex('2001:db8::1'), '20010db8' + '0'.repeat(23) + '1');
  assert.equal(hex('2001:0DB8:0000:0000:0000:0000:0000:0001'), hex('2001:db8::1'));
  assert.equal(hex('2001:db8:0:0:1::'), '20010db8000000000001' + '0'.repeat(12));
  assert.equal(hex('::ffff:192.0.2.1'), '0'.repeat(20) + 'ffffc0000201');
  assert.equal(hex('1:2:3:4:5:6:1.2.3.4'), '000100020003000400050006' + '01020304');
  assert.equal(hex('1:2:3:4:5:6:7:8'), '00010002000300040005000600070008');
});

test('anything that is not an address, or has a zone, is refused', () => {
  for (const bad of ['fe80::1%eth0', ' ::1', '::1 ', '', 'x', '1.2.3', '01.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'localhost']) {
    assert.throws(() => ipAddressBytes(bad), RangeError, JSON.stringify(bad));
  }
});

test('the octets equal what openssl writes for the same SAN', (t) => {
  const addrs = ['192.0.2.7', '2001:db8::1', '::ffff:192.0.2.1', '1:0:0:0:0:0:0:8', 'fe80::a:b:c:d'];
  const dir = mkdtempSync(join(tmpdir(), 'ip-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k'),
    '-subj', '/CN=ip', '-addext', 'subjectAltName=' + addrs.map((a) => `IP:${a}`).join(','), '-outform', 'DER', '-out', join(dir, 'csr')]);
  assert.equal(r.status, 0, r.stderr?.toString());
  const san = parseCsr(new Uint8Array(readFileSync(join(dir, 'csr')))).extensions.find((e) => e.oid === Oid.subjectAltName)!;
  const names = children(readWhole(san.value, Tag.sequence));
  assert.deepEqual(names.map((n) => Buffer.from(content(n)).toString('hex')), addrs.map(hex));
});
