// The demo PKI est-server creates on first run: a P-256 CA and a TLS certificate for localhost.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { extension, keyIdentifier } from '../ca/profile.js';
import { signData, signingAlgorithmFor } from '../protocol/algorithms.js';
import { Oid } from '../protocol/constants.js';
import { ipAddressBytes } from '../protocol/ip-address.js';
import { bitString, bool, explicit, integer, octetString, oid, readWhole, children, seq, set, time, tlv, Tag, ctxTag } from '../protocol/der.js';

function name(cn: string, o: string): Uint8Array {
  const rdn = (type: string, value: string) => set(seq(oid(type), tlv(Tag.utf8String, Buffer.from(value, 'utf8'))));
  return seq(rdn(Oid.organizationName, o), rdn(Oid.commonName, cn));
}

function spkiOf(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }));
}

async function sign(tbsFields: Uint8Array[], signer: KeyObject): Promise<Uint8Array> {
  const alg = signingAlgorithmFor(signer);
  const tbs = seq(explicit(0, integer(2)), tbsFields[0]!, alg.algorithmIdentifier, ...tbsFields.slice(1));
  return seq(tbs, alg.algorithmIdentifier, bitString(await signData(alg.params, tbs, signer)));
}

const serial = () => integer(Buffer.concat([Buffer.from([0x40 | (randomBytes(1)[0]! & 0x3f)]), randomBytes(15)]));

/** A self-signed P-256 CA certificate (CA:TRUE, keyCertSign/cRLSign, SKI). */
export async function createDemoCa(days = 3650): Promise<{ certDer: Uint8Array; key: KeyObject }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = spkiOf(publicKey);
  const subject = name('express-est Demo CA', 'express-est demo');
  const now = Date.now();
  const exts = seq(
    extension(Oid.basicConstraints, true, seq(bool(true))),
    extension(Oid.keyUsage, true, Uint8Array.of(0x03, 0x02, 0x01, 0x06)), // keyCertSign | cRLSign
    extension(Oid.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
  );
  const certDer = await sign(
    [serial(), subject, seq(time(new Date(now - 300_000)), time(new Date(now + days * 86_400_000))), subject, spki, explicit(3, exts)],
    privateKey,
  );
  return { certDer, key: privateKey };
}

/** A TLS server certificate for `localhost` and 127.0.0.1, issued by the demo CA. */
export async function createDemoServerCert(ca: { certDer: Uint8Array; key: KeyObject }, hosts: string[] = ['localhost', '127.0.0.1', '::1']): Promise<{ certDer: Uint8Array; key: KeyObject }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = spkiOf(publicKey);
  const caParts = children(children(readWhole(ca.certDer))[0]!);
  const caSubject = caParts[5]!;
  const caSpki = caParts[6]!;
  // GeneralName: iPAddress [7] (4 or 16 octets) or dNSName [2] (RFC 5280 §4.2.1.6).
  const san = seq(...hosts.map((h) => (isIP(h) ? tlv(ctxTag(7, false), ipAddressBytes(h)) : tlv(ctxTag(2, false), Buffer.from(h, 'latin1')))));
  const now = Date.now();
  const exts = seq(
    extension(Oid.basicConstraints, true, seq()),
    extension(Oid.keyUsage, true, Uint8Array.of(0x03, 0x02, 0x07, 0x80)), // digitalSignature
    extension(Oid.extKeyUsage, false, seq(oid(Oid.kpServerAuth))),
    extension(Oid.subjectAltName, false, san),
    extension(Oid.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
    extension(Oid.authorityKeyIdentifier, false, seq(tlv(ctxTag(0, false), keyIdentifier(caSpki.buf.subarray(caSpki.start, caSpki.end))))),
  );
  const certDer = await sign(
    [serial(), caSubject.buf.subarray(caSubject.start, caSubject.end), seq(time(new Date(now - 300_000)), time(new Date(now + 825 * 86_400_000))), name('localhost', 'express-est demo'), spki, explicit(3, exts)],
    ca.key,
  );
  return { certDer, key: privateKey };
}
