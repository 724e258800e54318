// The one path of every issuing operation (simpleenroll, simplereenroll, serverkeygen, fullcmc):
// read → decode → check (readCheckedCsr; fullcmc has its own reader), then [approve] → issue →
// [record] (issueChecked) → respond (issueAndRespond). DESIGN stages 4–8.
import { randomBytes } from 'node:crypto';
import { keygenAndEnroll, type ServerKeygenResult } from '../ca/keygen.js';
import type { CertificateAuthority, EnrollRequest, IssuingOperation } from '../ca/types.js';
import { checkRequest, type CheckedRequest } from '../check/index.js';
import { EstError, EstStoreError, estError } from '../errors.js';
import { encodeBase64Lines } from '../protocol/base64.js';
import { MediaType } from '../protocol/constants.js';
import { DerError } from '../protocol/der.js';
import { buildMultipart } from '../protocol/multipart.js';
import { parseCsr, type ParsedCsr } from '../protocol/pkcs10.js';
import { encodeCertsOnly } from '../protocol/pkcs7.js';
import { parseCertificate } from '../protocol/x509.js';
import type { ApprovalInput } from '../approve/approve.js';
import { recordOf } from '../store/record.js';
import type { Requester } from '../store/types.js';
import { readDerBody } from './body.js';
import { serialText } from '../ca/serial-file-store.js';
import { secondsSince } from '../observe/metrics.js';
import { inSpan } from '../observe/tracing.js';
import type { RequestContext } from './context.js';
import { prepareBase64, send, type Prepared } from './respond.js';
import { encryptedKey, keyRequestOf, type KeyRequest } from './server-key.js';
import { storeUnavailable } from './store-unavailable.js';

/** What the CA returned: the certificate, and for /serverkeygen the new private key. */
export interface Issued {
  certificate: Uint8Array;
  privateKeyPkcs8?: Uint8Array;
}

/** How one issuing operation asks the CA and encodes the answer. */
interface Issuer {
  issue(ca: CertificateAuthority, request: EnrollRequest): Promise<Issued>;
  respond(issued: Issued, ctx: RequestContext, keyRequest?: KeyRequest): Prepared | Promise<Prepared>;
}

/** Reads, decodes and parses the PKCS#10 body (RFC 7030 §4.2.1, RFC 8951 §3). */
async function readCsr(ctx: RequestContext, contentType: string): Promise<ParsedCsr> {
  const der = await readDerBody(ctx.req, [contentType], ctx.config.maxBodySize, ctx.config.bodyTimeout);
  try {
    return parseCsr(der);
  } catch (e) {
    if (e instanceof DerError) throw estError('ERR_EST_CSR_MALFORMED', `malformed PKCS#10 request: ${e.message}`);
    throw e;
  }
}

/** Everything the CA may base its decision on (see EnrollRequest). */
function enrollRequest(ctx: RequestContext, checked: CheckedRequest): EnrollRequest {
  const { csr } = checked;
  const r: EnrollRequest = {
    operation: checked.operation,
    csr,
    spkiDer: csr.spkiDer,
    authenticatedBy: ctx.authenticatedBy,
    peerAddress: ctx.facts.peerAddress,
  };
  if (ctx.label !== undefined) r.label = ctx.label;
  if (ctx.facts.clientCertificateVerified && ctx.facts.clientCertificate) r.clientCertificate = ctx.facts.clientCertificate;
  if (checked.otpChallenge !== undefined) r.otpChallenge = checked.otpChallenge;
  return r;
}

/**
 * The issued certificate's serial and subject go into the request's log line; latency and count
 * into the metrics. `serial`: the one the RECORD stage already read (the certificate is parsed once).
 */
function observeIssued(ctx: RequestContext, checked: CheckedRequest, certDer: Uint8Array, serial: string | undefined): void {
  try {
    ctx.observed.serial = serial ?? serialText(parseCertificate(certDer).serial);
  } catch {
    throw estError('ERR_EST_CA', 'the CA returned a malformed certificate');
  }
  ctx.observed.subject = checked.csr.subject;
  if (checked.reenroll) ctx.observed.reenroll = String(checked.reenroll);
  const metrics = ctx.config.metrics;
  if (metrics) {
    const labels = { operation: checked.operation, label: ctx.label ?? '' };
    metrics.issuance.observe(labels, secondsSince(ctx.startedAt));
    metrics.issued.inc(labels);
  }
}

/**
 * DESIGN "approve": after every check, before issue. Empty means go on and issue; a request a
 * person approved comes back with its id, to be marked issued; a repeat of an issued request gets
 * the certificate issued for it. 202 (pending) and 403 (denied) are thrown.
 */
async function approve(ctx: RequestContext, checked: CheckedRequest): Promise<{ pendingId?: string; issued?: Issued }> {
  const approver = ctx.config.approver;
  if (!approver) return {};
  const input: ApprovalInput = { operation: checked.operation, csr: checked.csr, requester: requesterOf(ctx), peerAddress: ctx.facts.peerAddress, requestId: ctx.requestId };
  if (ctx.label !== undefined) input.label = ctx.label;
  if (ctx.facts.clientCertificateVerified && ctx.facts.clientCertificate) input.clientCertificate = ctx.facts.clientCertificate;
  let a;
  try {
    a = await approver.approve(input);
  } catch (e) {
    // 202 and 403 go to the client as they are; a store that cannot be used is a 503.
    if (e instanceof EstError && !(e instanceof EstStoreError)) throw e;
    throw storeUnavailable(ctx, 'pending requests cannot be read or stored', e);
  }
  if (a.kind === 'issued') {
    ctx.config.logger.info({ event: 'reissued', serial: a.serial, subject: checked.csr.subject, requestId: ctx.requestId }, 'certificate of an approved request sent again');
    return { issued: { certificate: a.certificate } };
  }
  return a.pendingId !== undefined ? { pendingId: a.pendingId } : {};
}

/**
 * The ledger's say on the client certificate. /simplereenroll: revoked → 403; never issued →
 * 403 when the store was configured explicitly (the implicit default ledger may predate
 * certificates still in use); RFC 7030 §4.2.2: the CA decides whether to re-enroll. Every other
 * issuing operation the certificate authenticated: revoked → 403 (RFC 5280 §5.3: a revoked
 * certificate no longer vouches for its holder).
 */
async function checkLedger(ctx: RequestContext, operation: IssuingOperation): Promise<void> {
  const store = ctx.config.store;
  const cert = ctx.facts.clientCertificate;
  if (!store || !cert || !ctx.facts.clientCertificateVerified) return;
  const reenroll = operation === 'simplereenroll';
  if (!reenroll && ctx.authenticatedBy !== 'certificate') return;
  const serial = cert.serialNumber.toUpperCase();
  let status;
  try {
    status = await store.status(serial);
  } catch (e) {
    throw storeUnavailable(ctx, 'the certificate ledger cannot be read', e, { serial });
  }
  if (status === 'revoked') {
    throw estError(reenroll ? 'ERR_EST_REENROLL_REVOKED' : 'ERR_EST_CERT_REVOKED', `the client certificate (serial ${serial}) has been revoked`);
  }
  if (reenroll && status === 'unknown' && ctx.config.storeExplicit) throw estError('ERR_EST_REENROLL_NOT_ISSUED', `the client certificate (serial ${serial}) was not issued by this CA`);
}

/** Who asked, for the record: how, the backend's user name, the client certificate. */
function requesterOf(ctx: RequestContext): Requester {
  const r: Requester = { method: ctx.authenticatedBy };
  if (ctx.user !== undefined) r.user = ctx.user;
  else if (ctx.authenticatedBy === 'auth-request') {
    // No X-EST-User: the Basic user name the backend accepted is who asked.
    const m = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(ctx.req.headers.authorization ?? '');
    const user = m ? Buffer.from(m[1]!, 'base64').toString('utf8').split(':')[0] : undefined;
    if (user) r.user = user;
  }
  const cert = ctx.facts.clientCertificateVerified ? ctx.facts.clientCertificate : undefined;
  if (cert) {
    r.certificateSubject = cert.subject.split('\n').join(', ');
    r.certificateSerial = cert.serialNumber.toUpperCase();
  }
  return r;
}

/**
 * The RECORD stage: the certificate goes into the ledger before it is returned; when it cannot,
 * 503 + Retry-After and the certificate is dropped (DESIGN "issue + record").
 */
async function record(ctx: RequestContext, checked: CheckedRequest, certificate: Uint8Array): Promise<string | undefined> {
  const store = ctx.config.store;
  if (!store) return undefined;
  let rec;
  try {
    rec = recordOf(certificate, {
      operation: checked.operation,
      ...(ctx.label !== undefined ? { label: ctx.label } : {}),
      requester: requesterOf(ctx),
      peerAddress: ctx.facts.peerAddress,
      requestId: ctx.requestId,
    });
  } catch {
    throw estError('ERR_EST_CA', 'the CA returned a malformed certificate');
  }
  try {
    await store.record(rec);
  } catch (e) {
    throw storeUnavailable(ctx, 'the certificate could not be recorded', e, { serial: rec.serial, subject: rec.subject });
  }
  return rec.serial;
}

/** application/pkcs7-mime; smime-type=certs-only holding the one certificate (RFC 7030 §4.2.3). */
function certsOnly(issued: Issued): Prepared {
  return prepareBase64(MediaType.pkcs7CertsOnly, encodeCertsOnly([issued.certificate]));
}

/**
 * RFC 7030 §4.4.2: key part first, then the certificate, as in A.4. The key part is PKCS#8, or
 * when the CSR asked for encryption, `smime-type=server-generated-key` EnvelopedData.
 */
async function keyAndCertificate(issued: Issued, ctx: RequestContext, keyRequest?: KeyRequest): Promise<Prepared> {
  const boundary = `est-${randomBytes(12).toString('hex')}`;
  const keyPart = keyRequest
    ? { headers: { 'Content-Type': MediaType.pkcs7ServerGeneratedKey, 'Content-Transfer-Encoding': 'base64' }, body: encodeBase64Lines(await encryptedKey(ctx, issued.privateKeyPkcs8!, keyRequest)) }
    : { headers: { 'Content-Type': MediaType.pkcs8, 'Content-Transfer-Encoding': 'base64' }, body: encodeBase64Lines(issued.privateKeyPkcs8!) };
  const body = buildMultipart(boundary, [
    keyPart,
    { headers: { 'Content-Type': MediaType.pkcs7CertsOnly, 'Content-Transfer-Encoding': 'base64' }, body: encodeBase64Lines(encodeCertsOnly([issued.certificate])) },
  ]);
  return {
    status: 200,
    headers: { 'Content-Type': `multipart/mixed; boundary=${boundary}`, 'Content-Length': String(body.length), 'Cache-Control': 'no-store' },
    body,
  };
}

async function serverkeygen(ca: CertificateAuthority, request: EnrollRequest): Promise<Issued> {
  // A CA without its own serverkeygen gets a key like the CSR's, certified by its enroll().
  const r: ServerKeygenResult = ca.serverkeygen ? await ca.serverkeygen(request) : await keygenAndEnroll((q) => ca.enroll(q), request);
  return { certificate: r.certificate, privateKeyPkcs8: r.privateKeyPkcs8 };
}

/** How each issuing operation asks the CA and answers (fullcmc answers with a Full PKI Response itself). */
const ISSUERS: Readonly<Record<IssuingOperation, Issuer>> = Object.freeze({
  simpleenroll: { issue: async (ca, r) => ({ certificate: await ca.enroll(r) }), respond: certsOnly },
  fullcmc: { issue: async (ca, r) => ({ certificate: await ca.enroll(r) }), respond: certsOnly },
  simplereenroll: { issue: async (ca, r) => ({ certificate: await (ca.reenroll ? ca.reenroll(r) : ca.enroll(r)) }), respond: certsOnly },
  serverkeygen: { issue: serverkeygen, respond: keyAndCertificate },
});

/**
 * The front half of the PKCS#10 operations: read the body (`contentType` from the operation
 * table), decode, parse, and run the check stage.
 */
export async function readCheckedCsr(ctx: RequestContext, operation: IssuingOperation, contentType: string): Promise<CheckedRequest> {
  const csr = await readCsr(ctx, contentType);
  return checkRequest(ctx, csr, operation);
}

/**
 * Checked request → [approve] → issue → [record]: the seam every issuing operation goes through,
 * /fullcmc included (it reads its own body and answers with a Full PKI Response).
 */
export async function issueChecked(ctx: RequestContext, checked: CheckedRequest): Promise<Issued> {
  await checkLedger(ctx, checked.operation);
  const approval = await approve(ctx, checked);
  if (approval.issued) return approval.issued;
  let issued: Issued;
  let serial: string | undefined;
  try {
    issued = await inSpan('est.issue', { 'est.operation': checked.operation }, () => ISSUERS[checked.operation].issue(ctx.config.ca, enrollRequest(ctx, checked)));
    serial = await record(ctx, checked, issued.certificate);
  } catch (e) {
    // Nothing was issued (or it could not be recorded, so it is dropped): the next repeat tries again.
    if (approval.pendingId !== undefined) ctx.config.approver!.release(approval.pendingId);
    throw e;
  }
  observeIssued(ctx, checked, issued.certificate, serial);
  if (approval.pendingId !== undefined) {
    try {
      await ctx.config.approver!.issued(approval.pendingId, serial!);
    } catch (e) {
      // The certificate is recorded; the request still reads 'approved' and a repeat issues anew.
      ctx.config.logger.error({ err: e, request: approval.pendingId, serial, requestId: ctx.requestId }, 'could not mark the approved request issued');
    }
  }
  return issued;
}

/**
 * Checked request → issue → respond, for the PKCS#10 operations (simpleenroll, simplereenroll,
 * serverkeygen). For /serverkeygen the key an encrypted key is for is found before anything is
 * issued (RFC 7030 §4.4.1.1/§4.4.1.2).
 */
export async function issueAndRespond(ctx: RequestContext, checked: CheckedRequest): Promise<void> {
  const keyRequest = checked.operation === 'serverkeygen' ? await keyRequestOf(ctx, checked.csr) : undefined;
  const issued = await issueChecked(ctx, checked);
  send(ctx.req, ctx.res, await ISSUERS[checked.operation].respond(issued, ctx, keyRequest));
}
