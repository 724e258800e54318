// One function per EST operation; each receives an authorized request context.
import { randomBytes, type X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthMethod, EnrollRequest, IssuingOperation } from '../ca/types.js';
import { generateKeyLike } from '../ca/keygen.js';
import { EstBadRequestError, EstError } from '../errors.js';
import { checkPop } from '../auth/pop.js';
import { checkReenroll } from '../auth/reenroll.js';
import { BodyEncodingError, decodeBody, encodeBase64Lines } from '../protocol/base64.js';
import { MediaType, Oid } from '../protocol/constants.js';
import { DerError } from '../protocol/der.js';
import { buildMultipart } from '../protocol/multipart.js';
import { describeKeyType, parseCsr, stringAttribute, type KeyType, type ParsedCsr } from '../protocol/pkcs10.js';
import { encodeCertsOnly } from '../protocol/pkcs7.js';
import { parseCertificate } from '../protocol/x509.js';
import type { TlsFacts } from '../tls/tls-facts.js';
import { checkContentType, readBody } from './body.js';
import type { EstConfig } from './options.js';
import { prepareBase64, send, type Prepared } from './respond.js';

/** What a handler knows about the request. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  config: EstConfig;
  label?: string;
  facts: TlsFacts;
  authenticatedBy: AuthMethod;
  requiredAttrs: (csr: ParsedCsr, serverkeygen: boolean) => void;
  /** Verifies an RFC 7894 otpChallenge with the auth backend, when one is configured. */
  verifyOtp?: (otp: string) => Promise<void>;
}

/** Reads, decodes and parses the PKCS#10 body (RFC 7030 §4.2.1, RFC 8951 §3). */
async function readCsr(ctx: RequestContext): Promise<ParsedCsr> {
  checkContentType(ctx.req, [MediaType.pkcs10]);
  const body = await readBody(ctx.req, ctx.config.maxBodySize);
  let der: Uint8Array;
  try {
    der = decodeBody(body);
  } catch (e) {
    if (e instanceof BodyEncodingError) throw new EstBadRequestError(e.message, 'ERR_EST_BODY_ENCODING');
    throw e;
  }
  try {
    return parseCsr(der);
  } catch (e) {
    if (e instanceof DerError) throw new EstBadRequestError(`malformed PKCS#10 request: ${e.message}`, 'ERR_EST_CSR_MALFORMED');
    throw e;
  }
}

/** Key types the CA certifies: RSA 2048–16384, EC P-256/384/521, Ed25519, Ed448. */
function checkKeyPolicy(k: KeyType | undefined, why?: string): void {
  if (!k) throw new EstBadRequestError(`unsupported or malformed public key in CSR${why ? `: ${why}` : ''}`, 'ERR_EST_CSR_KEY');
  if ((k.kind === 'rsa' || k.kind === 'rsa-pss') && (k.bits < 2048 || k.bits > 16384)) {
    throw new EstBadRequestError(`RSA key size ${k.bits} not allowed (2048 to 16384 bits)`, 'ERR_EST_CSR_KEY');
  }
  if (k.kind === 'ec' && !['prime256v1', 'secp384r1', 'secp521r1'].includes(k.curve)) {
    throw new EstBadRequestError(`EC curve ${k.curve} not allowed (P-256, P-384, P-521)`, 'ERR_EST_CSR_KEY');
  }
}

/** The checks every enrollment CSR goes through (DESIGN "check" stage). */
async function checkCsr(ctx: RequestContext, csr: ParsedCsr, op: IssuingOperation): Promise<void> {
  const serverkeygen = op === 'serverkeygen';
  if (!serverkeygen) {
    checkKeyPolicy(csr.keyType, csr.keyError);
    // The self-signature is the proof of possession (RFC 7030 §3.4); not for serverkeygen (§4.4.1).
    if (csr.signatureAlgorithmError) {
      throw new EstBadRequestError(`CSR signature algorithm not supported: ${csr.signatureAlgorithmError}`, 'ERR_EST_CSR_SIGNATURE');
    }
    if (!(await csr.verifySignature())) throw new EstBadRequestError('CSR signature does not verify', 'ERR_EST_CSR_SIGNATURE');
  }
  ctx.requiredAttrs(csr, serverkeygen);
  let otp: string | undefined;
  try {
    checkPop(csr, ctx.facts, ctx.config.pop, ctx.config.popAcceptTls13Finished);
    otp = stringAttribute(csr, Oid.otpChallenge);
  } catch (e) {
    if (e instanceof DerError) throw new EstBadRequestError(`malformed challenge attribute: ${e.message}`, 'ERR_EST_CSR_MALFORMED');
    throw e;
  }
  // RFC 7894 §4: every challenge attribute present must be processed. The auth backend verifies an
  // OTP (header X-EST-OTP-Challenge); a custom CA receives it in EnrollRequest.otpChallenge.
  if (otp !== undefined) {
    if (ctx.verifyOtp) await ctx.verifyOtp(otp);
    else if (!ctx.config.customCa) {
      throw new EstBadRequestError('otpChallenge present but no authorization backend (authRequest) can verify it (RFC 7894 §4)', 'ERR_EST_OTP_UNVERIFIED');
    }
  }
}

function enrollRequest(ctx: RequestContext, op: IssuingOperation, csr: ParsedCsr, spkiDer: Uint8Array): EnrollRequest {
  const r: EnrollRequest = {
    operation: op,
    csr,
    spkiDer,
    authenticatedBy: ctx.authenticatedBy,
    peerAddress: ctx.facts.peerAddress,
  };
  if (ctx.label !== undefined) r.label = ctx.label;
  if (ctx.facts.clientCertificateVerified && ctx.facts.clientCertificate) r.clientCertificate = ctx.facts.clientCertificate;
  try {
    const otp = stringAttribute(csr, Oid.otpChallenge);
    if (otp !== undefined) r.otpChallenge = otp;
  } catch {
    throw new EstBadRequestError('malformed otpChallenge attribute', 'ERR_EST_CSR_MALFORMED');
  }
  return r;
}

function logIssued(ctx: RequestContext, op: IssuingOperation, csr: ParsedCsr, certDer: Uint8Array, extra: object = {}): void {
  let serial = '';
  try {
    serial = parseCertificate(certDer).serial.toString(16).toUpperCase();
  } catch {
    throw new EstError(500, 'ERR_EST_CA', 'the CA returned a malformed certificate');
  }
  ctx.config.logger.info(
    { event: 'issued', operation: op, serial, subject: csr.subject, label: ctx.label ?? null, authenticatedBy: ctx.authenticatedBy, peerAddress: ctx.facts.peerAddress, ...extra },
    'certificate issued',
  );
}

/** POST /simpleenroll and /simplereenroll (RFC 7030 §4.2). */
export async function enroll(ctx: RequestContext, op: 'simpleenroll' | 'simplereenroll'): Promise<void> {
  const csr = await readCsr(ctx);
  await checkCsr(ctx, csr, op);
  let extra = {};
  if (op === 'simplereenroll') {
    const current: X509Certificate | undefined = ctx.facts.clientCertificateVerified ? ctx.facts.clientCertificate : undefined;
    extra = { reenroll: checkReenroll(csr, current) };
  }
  const req = enrollRequest(ctx, op, csr, csr.spkiDer);
  const ca = ctx.config.ca;
  const cert = op === 'simplereenroll' && ca.reenroll ? await ca.reenroll(req) : await ca.enroll(req);
  logIssued(ctx, op, csr, cert, extra);
  send(ctx.req, ctx.res, prepareBase64(MediaType.pkcs7CertsOnly, encodeCertsOnly([cert])));
}

/** POST /serverkeygen (RFC 7030 §4.4): key part (PKCS#8) first, then the certificate, as in A.4. */
export async function serverkeygen(ctx: RequestContext): Promise<void> {
  const csr = await readCsr(ctx);
  await checkCsr(ctx, csr, 'serverkeygen');
  if (csr.attributes.some((a) => a.oid === Oid.decryptKeyIdentifier || a.oid === Oid.asymmDecryptKeyIdentifier)) {
    // RFC 7030 §4.4.1.1/§4.4.1.2: no key matches the identifier, so the request is refused.
    throw new EstError(501, 'ERR_EST_KEY_ENCRYPTION', 'encrypted server-generated keys are not supported; omit DecryptKeyIdentifier/AsymmetricDecryptKeyIdentifier to receive the key over TLS');
  }
  const ca = ctx.config.ca;
  let privateKeyPkcs8: Uint8Array;
  let cert: Uint8Array;
  if (ca.serverkeygen) {
    ({ privateKeyPkcs8, certificate: cert } = await ca.serverkeygen(enrollRequest(ctx, 'serverkeygen', csr, csr.spkiDer)));
  } else {
    // The new key follows the CSR's key type; an unreadable CSR key falls back to EC P-256.
    const wanted: KeyType = csr.keyType ?? { kind: 'ec', curve: 'prime256v1' };
    try {
      checkKeyPolicy(wanted);
    } catch {
      throw new EstBadRequestError(`cannot generate a key like the CSR's (${describeKeyType(wanted)})`, 'ERR_EST_CSR_KEY');
    }
    const key = await generateKeyLike(wanted);
    privateKeyPkcs8 = key.privateKeyPkcs8;
    cert = await ca.enroll(enrollRequest(ctx, 'serverkeygen', csr, key.spkiDer));
  }
  logIssued(ctx, 'serverkeygen', csr, cert);
  const boundary = `est-${randomBytes(12).toString('hex')}`;
  const body = buildMultipart(boundary, [
    { headers: { 'Content-Type': MediaType.pkcs8, 'Content-Transfer-Encoding': 'base64' }, body: encodeBase64Lines(privateKeyPkcs8) },
    { headers: { 'Content-Type': MediaType.pkcs7CertsOnly, 'Content-Transfer-Encoding': 'base64' }, body: encodeBase64Lines(encodeCertsOnly([cert])) },
  ]);
  const p: Prepared = {
    status: 200,
    headers: { 'Content-Type': `multipart/mixed; boundary=${boundary}`, 'Content-Length': String(body.length), 'Cache-Control': 'no-store' },
    body,
  };
  send(ctx.req, ctx.res, p);
}

/** GET /cacerts (RFC 7030 §4.1): pre-encoded when the certificates are constant. */
export async function cacerts(ctx: RequestContext, prepared: Prepared | undefined): Promise<void> {
  if (prepared) return send(ctx.req, ctx.res, prepared);
  const certs = await ctx.config.ca.cacerts(ctx.label);
  if (!certs.length) throw new EstError(500, 'ERR_EST_CA', 'the CA has no certificates to distribute');
  send(ctx.req, ctx.res, prepareBase64(MediaType.pkcs7, encodeCertsOnly(certs)));
}

/** GET /csrattrs (RFC 7030 §4.5): the configured DER unchanged, or 204 when there is none. */
export async function csrattrs(ctx: RequestContext, prepared: Prepared | undefined, fromCa: boolean, pop: (der: Uint8Array | undefined) => Uint8Array | undefined): Promise<void> {
  if (!fromCa) return send(ctx.req, ctx.res, prepared ?? NO_CONTENT);
  const der = pop(await ctx.config.ca.csrattrs!(ctx.label));
  send(ctx.req, ctx.res, der ? prepareBase64(MediaType.csrattrs, der) : NO_CONTENT);
}

/** 204: no CSR attributes (RFC 7030 §4.5.2). */
export const NO_CONTENT: Prepared = { status: 204, headers: {}, body: Buffer.alloc(0) };
