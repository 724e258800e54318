// TLS channel-binding values: RFC 9266 tls-exporter derived from a proxy's exporter secret, strict base64.
import { createHash, createHmac } from 'node:crypto';

/** RFC 9266 §2: the exporter label of tls-exporter. */
export const TLS_EXPORTER_LABEL = 'EXPORTER-Channel-Binding';
/** RFC 9266 §2: tls-exporter is 32 bytes. */
export const TLS_EXPORTER_LENGTH = 32;

/**
 * HKDF-Expand-Label (RFC 8446 §7.1):
 * ```
 * struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255>; } HkdfLabel;
 * ```
 */
function hkdfExpandLabel(hash: 'sha256' | 'sha384', secret: Buffer, label: string, context: Buffer, length: number): Buffer {
  const fullLabel = Buffer.from(`tls13 ${label}`, 'ascii');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, fullLabel.length]), fullLabel, Buffer.from([context.length]), context]);
  // HKDF-Expand (RFC 5869 §2.3): T(i) = HMAC(PRK, T(i-1) | info | i).
  const blocks: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    prev = createHmac(hash, secret).update(Buffer.concat([prev, info, Buffer.from([i])])).digest();
    blocks.push(prev);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** The TLS 1.3 hash of a cipher suite name (`TLS_AES_256_GCM_SHA384` → sha384); undefined if unknown. */
export function tls13Hash(cipher: string): 'sha256' | 'sha384' | undefined {
  const c = cipher.trim().toUpperCase().replace(/-/g, '_');
  if (c.endsWith('SHA384')) return 'sha384';
  if (c.endsWith('SHA256')) return 'sha256';
  return undefined;
}

/**
 * RFC 9266 tls-exporter computed from the connection's TLS 1.3 exporter_master_secret (what HAProxy's
 * `ssl_fc_exporter_secret` yields, hex) and cipher suite, as the TLS exporter of RFC 8446 §7.5 does:
 * `HKDF-Expand-Label(Derive-Secret(secret, label, ""), "exporter", Hash(""), 32)`.
 */
export function tlsExporterFromSecret(exporterSecret: Buffer, cipher: string): Buffer | undefined {
  const hash = tls13Hash(cipher);
  if (!hash) return undefined;
  const hashLen = hash === 'sha384' ? 48 : 32;
  if (exporterSecret.length !== hashLen) return undefined;
  const emptyHash = createHash(hash).digest();
  const derived = hkdfExpandLabel(hash, exporterSecret, TLS_EXPORTER_LABEL, emptyHash, hashLen);
  return hkdfExpandLabel(hash, derived, 'exporter', emptyHash, TLS_EXPORTER_LENGTH);
}

/** Decodes canonical RFC 4648 §4 base64 (padding required, no whitespace); undefined otherwise. */
export function strictBase64(value: string): Buffer | undefined {
  if (value.length === 0 || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.toString('base64') === value ? bytes : undefined;
}

/** Decodes a hex string (even length, hex digits only); undefined otherwise. */
export function strictHex(value: string): Buffer | undefined {
  if (value.length === 0 || value.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(value)) return undefined;
  return Buffer.from(value, 'hex');
}
