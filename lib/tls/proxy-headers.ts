// Header formats TLS terminators use to pass the client certificate and channel binding (RFC 9440 et al.).
import { X509Certificate } from 'node:crypto';
import { EstConfigError } from '../errors.js';
import { readWhole, Tag } from '../protocol/der.js';
import { parsePem } from '../protocol/pem.js';

/** How the client certificate is encoded in its header. */
export type CertHeaderFormat =
  | 'rfc9440' // :base64-DER: (HAProxy `:%[ssl_c_der,base64]:`)
  | 'url-pem' // URL-encoded PEM (nginx $ssl_client_escaped_cert)
  | 'xfcc' // Envoy X-Forwarded-Client-Cert (Cert= / Chain=)
  | 'traefik'; // comma-separated base64 DER, leaf first (possibly URL-escaped)

/** Header names and formats a trusted proxy uses. Names are case-insensitive. */
export interface ProxyHeaders {
  /** Header with the client certificate. */
  clientCert?: string;
  clientCertFormat?: CertHeaderFormat;
  /** Header with the chain (RFC 9440 Client-Cert-Chain list, or URL-encoded PEMs). */
  clientCertChain?: string;
  /** Header with the proxy's own verification verdict (nginx $ssl_client_verify). Informational: we verify anyway. */
  clientVerify?: string;
  /** Header with base64 tls-unique (HAProxy `%[ssl_fc_unique_id,base64]`). */
  tlsUnique?: string;
  /**
   * Header with the TLS version (`TLSv1.2`, `TLSv1.3`; nginx `$ssl_protocol`, HAProxy `%[ssl_fc_protocol]`).
   * It tells a tls-unique value (TLS 1.2) from the Finished-based value HAProxy sends under TLS 1.3;
   * without it the value is taken as TLS 1.2 tls-unique.
   */
  tlsProtocol?: string;
  /**
   * Header with the TLS 1.3 exporter secret in hex (HAProxy `%[ssl_fc_exporter_secret]`, needs
   * `tune.ssl.keylog on`), from which the middleware derives RFC 9266 tls-exporter. Secret material:
   * only on a protected proxy-to-backend hop (loopback, a private network).
   */
  tlsExporterSecret?: string;
  /** Header with the TLS 1.3 cipher suite name (HAProxy `%[ssl_fc_cipher]`); selects the exporter hash. */
  tlsCipher?: string;
  /**
   * Header with the original client address (`X-Forwarded-For`); the rightmost address that is not
   * itself a trusted proxy becomes `peerAddress` (logs, `EnrollRequest.peerAddress`).
   */
  clientAddress?: string;
}

const FIELDS = ['clientCert', 'clientCertFormat', 'clientCertChain', 'clientVerify', 'tlsUnique', 'tlsProtocol', 'tlsExporterSecret', 'tlsCipher', 'clientAddress'] as const;

export type ProxyHeadersPreset = 'nginx' | 'haproxy' | 'rfc9440' | 'envoy' | 'traefik';

/**
 * Presets (see examples/behind-nginx and examples/behind-haproxy for the matching proxy configs):
 * - `nginx`: `X-SSL-Client-Cert: $ssl_client_escaped_cert`, `X-SSL-Client-Verify: $ssl_client_verify`,
 *   `X-TLS-Protocol: $ssl_protocol`. nginx cannot export tls-unique.
 * - `haproxy`: RFC 9440 `Client-Cert: :%[ssl_c_der,base64]:`, `X-TLS-Unique: %[ssl_fc_unique_id,base64]`,
 *   `X-TLS-Protocol: %[ssl_fc_protocol]`, optionally `X-TLS-Exporter-Secret` / `X-TLS-Cipher` (TLS 1.3).
 * - `rfc9440`: `Client-Cert` / `Client-Cert-Chain` only.
 * - `envoy`: `X-Forwarded-Client-Cert` (XFCC `Cert=` / `Chain=`).
 * - `traefik`: `X-Forwarded-Tls-Client-Cert` (passTLSClientCert `pem: true`).
 * All take the client address from `X-Forwarded-For`.
 */
export const PROXY_HEADER_PRESETS: Readonly<Record<ProxyHeadersPreset, Readonly<ProxyHeaders>>> = Object.freeze({
  nginx: Object.freeze({
    clientCert: 'x-ssl-client-cert',
    clientCertFormat: 'url-pem',
    clientVerify: 'x-ssl-client-verify',
    tlsProtocol: 'x-tls-protocol',
    clientAddress: 'x-forwarded-for',
  } as const),
  haproxy: Object.freeze({
    clientCert: 'client-cert',
    clientCertFormat: 'rfc9440',
    clientCertChain: 'client-cert-chain',
    tlsUnique: 'x-tls-unique',
    tlsProtocol: 'x-tls-protocol',
    tlsExporterSecret: 'x-tls-exporter-secret',
    tlsCipher: 'x-tls-cipher',
    clientAddress: 'x-forwarded-for',
  } as const),
  rfc9440: Object.freeze({ clientCert: 'client-cert', clientCertFormat: 'rfc9440', clientCertChain: 'client-cert-chain', clientAddress: 'x-forwarded-for' } as const),
  envoy: Object.freeze({ clientCert: 'x-forwarded-client-cert', clientCertFormat: 'xfcc', clientAddress: 'x-forwarded-for' } as const),
  traefik: Object.freeze({ clientCert: 'x-forwarded-tls-client-cert', clientCertFormat: 'traefik', clientAddress: 'x-forwarded-for' } as const),
});

/** Resolves the `proxyHeaders` option (preset name or custom object) with lower-cased names. */
export function resolveProxyHeaders(value: unknown): ProxyHeaders {
  if (value === undefined) return PROXY_HEADER_PRESETS.nginx;
  if (typeof value === 'string') {
    const preset = PROXY_HEADER_PRESETS[value as ProxyHeadersPreset];
    if (!preset) throw new EstConfigError(`est: \`proxyHeaders\` must be one of ${Object.keys(PROXY_HEADER_PRESETS).join(', ')} or an object (got ${JSON.stringify(value)})`);
    return preset;
  }
  if (typeof value !== 'object' || value === null) throw new EstConfigError('est: `proxyHeaders` must be a preset name or an object');
  const out: ProxyHeaders = {};
  for (const [k, v] of Object.entries(value)) {
    if (!(FIELDS as readonly string[]).includes(k)) {
      throw new EstConfigError(`est: \`proxyHeaders.${k}\` is not a known field (known: ${FIELDS.join(', ')})`);
    }
    if (typeof v !== 'string') throw new EstConfigError(`est: \`proxyHeaders.${k}\` must be a string`);
    (out as Record<string, string>)[k] = k === 'clientCertFormat' ? v : v.toLowerCase();
  }
  if (out.clientCert && !out.clientCertFormat) out.clientCertFormat = 'rfc9440';
  if (out.clientCertFormat && !['rfc9440', 'url-pem', 'xfcc', 'traefik'].includes(out.clientCertFormat)) {
    throw new EstConfigError(`est: \`proxyHeaders.clientCertFormat\` must be rfc9440, url-pem, xfcc or traefik`);
  }
  return Object.freeze(out);
}

/**
 * Every header name a known TLS terminator uses for a TLS fact: the presets above plus common
 * names of Apache, HAProxy setups, AWS ALB, Azure, Traefik's info header and the like. They are
 * stripped from auth subrequests whatever the mount's preset, so a client cannot hand the backend a
 * "certificate" in a format the backend might read.
 */
export const KNOWN_FACT_HEADERS: readonly string[] = Object.freeze([
  ...new Set([
    ...Object.values(PROXY_HEADER_PRESETS).flatMap((h) => presetFactNames(h)),
    'ssl-client-cert', 'ssl-client-verify', 'ssl-client-s-dn', 'ssl-client-i-dn', 'ssl-client-serial',
    'x-ssl-cert', 'x-ssl-client-dn', 'x-ssl-client-s-dn', 'x-ssl-client-i-dn', 'x-ssl-client-serial',
    'x-ssl-client-fingerprint', 'x-ssl-client-sha1', 'x-ssl-client-notbefore', 'x-ssl-client-notafter',
    'x-client-cert', 'x-client-verify', 'x-client-dn', 'x-client-cert-chain', 'x-forwarded-tls-client-cert-info',
    'x-amzn-mtls-clientcert', 'x-amzn-mtls-clientcert-leaf', 'x-arr-clientcert', 'x-tls-client-cert',
    'x-tls-unique', 'x-tls-exporter', 'x-tls-exporter-secret', 'x-tls-cipher', 'x-tls-protocol', 'x-ssl-protocol',
    'x-ssl-cipher', 'x-ssl-session-id',
  ]),
]);

function presetFactNames(h: ProxyHeaders): string[] {
  return [h.clientCert, h.clientCertChain, h.clientVerify, h.tlsUnique, h.tlsProtocol, h.tlsExporterSecret, h.tlsCipher].filter((x): x is string => !!x);
}

/**
 * Header names that carry TLS facts, stripped from auth subrequests (the backend must never take a
 * client-supplied value for a fact): the mount's own and every {@link KNOWN_FACT_HEADERS} name.
 * The client-address header is not among them.
 */
export function proxyHeaderNames(h: ProxyHeaders): string[] {
  return [...new Set([...presetFactNames(h), ...KNOWN_FACT_HEADERS])];
}

/**
 * Fact headers a trusted proxy must send at most once: a second field line means the proxy
 * appended its value to the client's instead of replacing it. The chain header is a list that may
 * legitimately span several field lines (RFC 9440 §2.3, RFC 9110 §5.3), so it is not among them.
 */
export function singleValuedFactHeaders(h: ProxyHeaders): string[] {
  return [h.clientCert, h.clientVerify, h.tlsUnique, h.tlsProtocol, h.tlsExporterSecret, h.tlsCipher].filter((x): x is string => !!x);
}

/** Base64 (RFC 4648 §4), its padding optional (RFC 8941 §4.2.7 asks parsers not to insist on it). */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * A certificate from exactly its DER: OpenSSL's reader (behind X509Certificate) stops at the end
 * of the first certificate and ignores whatever follows, which a header must not carry.
 */
function certificate(der: Uint8Array): X509Certificate {
  readWhole(der, Tag.sequence, 'the certificate');
  return new X509Certificate(der);
}

function derCert(b64: string): X509Certificate | undefined {
  const clean = b64.replace(/[\s:]/g, '');
  if (!clean) return undefined;
  // Buffer.from skips characters outside the alphabet instead of refusing them.
  if (!BASE64.test(clean)) throw new Error('the certificate is not base64');
  return certificate(Buffer.from(clean, 'base64'));
}

function pemCerts(text: string): X509Certificate[] {
  return parsePem(text).map((b) => {
    if (b.label !== 'CERTIFICATE') throw new Error(`a PEM ${b.label} block where a CERTIFICATE was expected`);
    return certificate(b.der);
  });
}

/** Splits an Envoy XFCC element list into key/value pairs, honouring double quotes. */
function parseXfcc(value: string): Record<string, string>[] {
  const elements: Record<string, string>[] = [];
  let cur: Record<string, string> = {};
  let key = '';
  let buf = '';
  let inQuotes = false;
  let readingKey = true;
  const endPair = () => {
    if (key) cur[key.trim().toLowerCase()] = buf;
    key = '';
    buf = '';
    readingKey = true;
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (inQuotes) {
      if (c === '\\' && i + 1 < value.length) buf += value[++i];
      else if (c === '"') inQuotes = false;
      else buf += c;
    } else if (c === '"') inQuotes = true;
    else if (readingKey && c === '=') readingKey = false;
    else if (c === ';') endPair();
    else if (c === ',') {
      endPair();
      elements.push(cur);
      cur = {};
    } else if (readingKey) key += c;
    else buf += c;
  }
  endPair();
  elements.push(cur);
  return elements;
}

/**
 * Decodes the client certificate (leaf first, then chain) from a trusted proxy's headers.
 * Returns [] when the proxy says there is none; throws on a malformed value.
 */
export function certificatesFromHeaders(h: ProxyHeaders, get: (name: string) => string | undefined): X509Certificate[] {
  if (!h.clientCert) return [];
  const raw = get(h.clientCert)?.trim();
  if (!raw || raw === '(null)' || raw === '-') return [];
  const out: X509Certificate[] = [];
  switch (h.clientCertFormat) {
    case 'url-pem':
      out.push(...pemCerts(decodeURIComponent(raw)));
      break;
    case 'xfcc': {
      // The last element is the one added by the nearest (trusted) proxy.
      const el = parseXfcc(raw).at(-1) ?? {};
      if (el['cert']) out.push(...pemCerts(decodeURIComponent(el['cert'])));
      if (el['chain']) {
        const chain = pemCerts(decodeURIComponent(el['chain']));
        out.push(...chain.filter((c) => !out.some((o) => o.fingerprint256 === c.fingerprint256)));
      }
      break;
    }
    case 'traefik': {
      const text = raw.includes('%') ? decodeURIComponent(raw) : raw;
      for (const part of text.split(',')) {
        const c = derCert(part);
        if (c) out.push(c);
      }
      break;
    }
    default: {
      // RFC 9440 §2.1: sf-binary `:b64:`; tolerate bare base64 and PEM (Apache: newlines as spaces).
      if (raw.includes('-----BEGIN')) {
        out.push(...pemCerts(raw.replace(/(-----BEGIN CERTIFICATE-----|-----END CERTIFICATE-----)/g, '\n$1\n')));
      } else {
        const c = derCert(raw);
        if (c) out.push(c);
      }
    }
  }
  if (h.clientCertChain && out.length > 0) {
    const chainRaw = get(h.clientCertChain)?.trim();
    if (chainRaw) {
      for (const item of chainRaw.split(',')) {
        const c = item.includes('-----BEGIN') || item.includes('%2D') ? pemCerts(decodeURIComponent(item))[0] : derCert(item);
        if (c) out.push(c);
      }
    }
  }
  return out;
}
