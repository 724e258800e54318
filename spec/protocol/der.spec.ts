// OBJECT IDENTIFIER decoding (X.690 §8.19), with the decoded-OID cache in front of it; the writer's lengths and Times.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { oid, readOid, readTime, readWhole, time, tlv } from '../../lib/protocol/der.js';

const dir = mkdtempSync(join(tmpdir(), 'der-spec-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An OID TLV from its content octets (hex). */
function oidTlv(hex: string) {
  const c = Buffer.from(hex, 'hex');
  return readWhole(Buffer.concat([Buffer.from([0x06, c.length]), c]));
}

/** The content octets (hex) of a dotted OID, from der.ts's encoder. */
function encodeOid(dotted: string): string {
  return Buffer.from(oid(dotted)).subarray(2).toString('hex');
}

test('readOid decodes what openssl encodes, the same on every call', () => {
  const oids = ['1.2.840.113549.1.1.11', '2.5.4.3', '1.2.840.10045.3.1.7', '2.999.1', '1.3.6.1.4.1.311.60.2.1.3', '2.25.329800735698586629295641978511506172918'];
  for (const dotted of oids) {
    // openssl's own encoding of the OID (its DER, tag and length included).
    const out = join(dir, 'oid.der');
    execFileSync('openssl', ['asn1parse', '-genstr', `OID:${dotted}`, '-noout', '-out', out]);
    const der = readFileSync(out);
    for (let i = 0; i < 3; i++) assert.equal(readOid(readWhole(der)), dotted);
    assert.equal(der.subarray(2).toString('hex'), encodeOid(dotted));
  }
});

test('malformed OIDs are refused every time, also when a valid OID with the same start was decoded before', () => {
  assert.equal(readOid(oidTlv('2a864886f70d01010b')), '1.2.840.113549.1.1.11');
  for (let i = 0; i < 2; i++) {
    assert.equal(readOid(oidTlv('2a864886f70d0101')), '1.2.840.113549.1.1', 'a shorter OID with the same start is its own');
    assert.throws(() => readOid(oidTlv('2a864886f70d0181')), /truncated OBJECT IDENTIFIER/);
    assert.throws(() => readOid(oidTlv('2a80864886f70d')), /not minimally encoded/);
    assert.throws(() => readOid(oidTlv('')), /empty OBJECT IDENTIFIER/);
    assert.throws(() => readOid(oidTlv('2a'.repeat(101))), /longer than 100 octets/);
  }
});

test('thousands of distinct OIDs (hostile input) decode right and do not disable the cache for the common ones', () => {
  for (let n = 1; n <= 3000; n++) {
    const dotted = `1.3.6.1.4.1.${n}.${n * 7919}`;
    assert.equal(readOid(oidTlv(encodeOid(dotted))), dotted);
  }
  assert.equal(readOid(oidTlv('550403')), '2.5.4.3');
  assert.equal(readOid(oidTlv(encodeOid('1.3.6.1.4.1.99999.1'))), '1.3.6.1.4.1.99999.1');
});

// The writer (X.690 §8.1.3 definite lengths; RFC 5280 §4.1.2.5 Time).

test('tlv writes the definite length in the fewest octets, as openssl does, with its contents in any number of parts', () => {
  for (const len of [1, 127, 128, 255, 256, 65535, 65536]) {
    const body = Buffer.alloc(len);
    for (let i = 0; i < len; i++) body[i] = (i * 7 + 3) & 0xff;
    const conf = join(dir, 'octets.cnf');
    writeFileSync(conf, `asn1=FORMAT:HEX,OCTETSTRING:${body.toString('hex')}\n`);
    const out = join(dir, 'octets.der');
    execFileSync('openssl', ['asn1parse', '-genconf', conf, '-noout', '-out', out]);
    const expected = readFileSync(out);
    const third = Math.floor(len / 3);
    assert.deepEqual(Buffer.from(tlv(0x04, body)), expected, `one part, ${len} octets`);
    assert.deepEqual(Buffer.from(tlv(0x04, body.subarray(0, third), body.subarray(third, 2 * third), body.subarray(2 * third))), expected, `three parts, ${len} octets`);
  }
  assert.deepEqual(Buffer.from(tlv(0x30)), Buffer.from([0x30, 0x00]));
  assert.deepEqual(Buffer.from(tlv(0x04, new Uint8Array(0), new Uint8Array(0))), Buffer.from([0x04, 0x00]));
});

test('time writes UTCTime through 2049 and GeneralizedTime from 2050, in whole seconds, and reads back', () => {
  const cases: Array<[string, string]> = [
    ['1950-01-01T00:00:00.000Z', '170d3530303130313030303030305a'],
    ['2049-12-31T23:59:59.999Z', '170d3439313233313233353935395a'],
    ['2050-01-01T00:00:00.000Z', '180f32303530303130313030303030305a'],
    ['1949-12-31T23:59:59.000Z', '180f31393439313233313233353935395a'],
    ['9999-12-31T23:59:59.000Z', '180f39393939313233313233353935395a'],
    ['2026-02-03T04:05:06.000Z', '170d3236303230333034303530365a'],
  ];
  for (const [iso, hex] of cases) {
    const der = time(new Date(iso));
    assert.equal(Buffer.from(der).toString('hex'), hex, iso);
    assert.equal(readTime(readWhole(der)).getTime(), Math.floor(Date.parse(iso) / 1000) * 1000, iso);
  }
  assert.throws(() => time(new Date(NaN)), RangeError);
  assert.throws(() => time(new Date('+010000-01-01T00:00:00Z')), RangeError);
});
