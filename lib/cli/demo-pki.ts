// The demo PKI est-server creates on first run: a P-256 CA and a TLS certificate for localhost.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { BACKDATE_MS, buildRootTbsCertificate, buildTbsCertificate, createIssuerProfile, signCertificate } from '../ca/profile.js';
import { RandomSerialStore } from '../ca/random-serial-store.js';
import { encodeSubject, encodeSubjectAltName } from '../client/csr.js';
import { signingAlgorithmFor } from '../protocol/algorithms.js';
import { Oid } from '../protocol/constants.js';
import { oid, seq } from '../protocol/der.js';

const DAY_MS = 86_400_000;

function newKey(): { privateKey: KeyObject; spkiDer: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, spkiDer: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })) };
}

/** A value for encodeSubject's `/TYPE=value` notation: separators escaped. */
function escapeRdn(v: string): string {
  return v.replace(/[\\/+,]/g, (c) => `\\${c}`);
}

async function randomSerial(): Promise<bigint> {
  return (await new RandomSerialStore().next(1))[0]!;
}

/**
 * A self-signed CA certificate (CA:TRUE, keyCertSign/cRLSign, SKI): P-256 and the demo's name
 * unless `options` give a key pair and a name (`est-server init-ca`).
 */
export async function createDemoCa(days = 3650, options: { keyPair?: { privateKey: KeyObject; publicKey: KeyObject }; cn?: string; o?: string } = {}): Promise<{ certDer: Uint8Array; key: KeyObject }> {
  const { privateKey, spkiDer } = options.keyPair
    ? { privateKey: options.keyPair.privateKey, spkiDer: new Uint8Array(options.keyPair.publicKey.export({ format: 'der', type: 'spki' })) }
    : newKey();
  const algorithm = signingAlgorithmFor(privateKey);
  const now = Date.now();
  const tbs = buildRootTbsCertificate({
    serial: await randomSerial(),
    subjectDer: encodeSubject(`/O=${escapeRdn(options.o ?? 'express-est demo')}/CN=${escapeRdn(options.cn ?? 'express-est Demo CA')}`),
    spkiDer,
    signatureAlgorithm: algorithm.algorithmIdentifier,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * DAY_MS),
  });
  return { certDer: await signCertificate(tbs, algorithm, privateKey), key: privateKey };
}

/**
 * A TLS server certificate for `localhost`, 127.0.0.1 and ::1, issued by the demo CA through
 * the file CA's own profile (serverAuth allowed; SAN requested as a CSR would).
 */
export async function createDemoServerCert(ca: { certDer: Uint8Array; key: KeyObject }, hosts: string[] = ['localhost', '127.0.0.1', '::1']): Promise<{ certDer: Uint8Array; key: KeyObject }> {
  const { privateKey, spkiDer } = newKey();
  const algorithm = signingAlgorithmFor(ca.key);
  const issuer = createIssuerProfile({ caCertificate: ca.certDer, signatureAlgorithm: algorithm.algorithmIdentifier, validityDays: 825, allowServerAuth: true });
  const { tbsDer } = buildTbsCertificate(issuer, {
    serial: await randomSerial(),
    subjectDer: encodeSubject('/O=express-est demo/CN=localhost'),
    spkiDer,
    requestedExtensions: [
      { oid: Oid.subjectAltName, critical: false, value: encodeSubjectAltName(hosts) },
      { oid: Oid.extKeyUsage, critical: false, value: seq(oid(Oid.kpServerAuth)) },
    ],
  });
  return { certDer: await signCertificate(tbsDer, algorithm, ca.key), key: privateKey };
}
