// POST /fullcmc (RFC 7030 §4.3): a signed Full PKI Request in, a signed Full PKI Response out, same policy as simpleenroll.
import { randomBytes, type X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import { checkRequest } from '../check/index.js';
import { EstError, estError } from '../errors.js';
import { certificateRevoked } from '../store/revoked.js';
import type { RevocationReason } from '../store/types.js';
import { CmcFailInfo, CmcFailure } from '../protocol/cmc.js';
import { readFullPkiRequest, type CmcRevokeRequest, type FullPkiRequest } from '../protocol/cmc-request.js';
import { fullPkiResponse, type FullPkiResponseInput } from '../protocol/cmc-response.js';
import type { CmsSigner } from '../protocol/cms-signed-data.js';
import { MediaType, Oid } from '../protocol/constants.js';
import { DerError } from '../protocol/der.js';
import { parseCsr } from '../protocol/pkcs10.js';
import { fromDer, pkijsCertificate } from '../protocol/pkix.js';
import { chainLimitProblem } from '../tls/chain-limits.js';
import { verifyChain } from '../tls/verify-chain.js';
import { readDerBody } from './body.js';
import type { RequestContext } from './context.js';
import { issueChecked } from './issue.js';
import { storeUnavailable } from './store-unavailable.js';
import { prepareBase64, send } from './respond.js';

/** What a response echoes from the request (RFC 5272 §6.6). */
type Echo = Pick<FullPkiResponseInput, 'transactionId' | 'recipientNonce'>;

/** CRLReason (RFC 5280 §5.3.1) → the record store's names; 7 is unused. */
const REASONS: Record<number, RevocationReason> = {
  0: 'unspecified', 1: 'keyCompromise', 2: 'CACompromise', 3: 'affiliationChanged', 4: 'superseded',
  5: 'cessationOfOperation', 6: 'certificateHold', 8: 'removeFromCRL', 9: 'privilegeWithdrawn', 10: 'AACompromise',
};

/** Refusals that are proof-of-possession failures (RFC 7030 §3.5: popFailed in a Full PKI Response). */
const POP_FAILURES: ReadonlySet<string> = new Set(['ERR_EST_POP_MISSING', 'ERR_EST_POP_MISMATCH', 'ERR_EST_POP_UNAVAILABLE', 'ERR_EST_CSR_SIGNATURE']);

/** The CMC failInfo for a refusal from the shared check/issue path. */
function failInfoOf(e: EstError): number {
  if (POP_FAILURES.has(e.code)) return CmcFailInfo.popFailed;
  if (e.code === 'ERR_EST_CSR_KEY') return CmcFailInfo.badAlg;
  if (e.status === 503) return CmcFailInfo.tryLater;
  if (e.status >= 500) return CmcFailInfo.internalCAError;
  return CmcFailInfo.badRequest;
}

async function respond(ctx: RequestContext, signer: CmsSigner, status: number, input: FullPkiResponseInput, headers: Record<string, string> = {}): Promise<void> {
  const p = prepareBase64(MediaType.cmcResponse, await fullPkiResponse(input, signer));
  send(ctx.req, ctx.res, { ...p, status, headers: { ...p.headers, 'Cache-Control': 'no-store', ...headers } });
}

/** RFC 7030 §4.3.2: a refusal is a 4xx/5xx whose body is a Full PKI Response with CMCStatusInfoV2 failed. */
async function refuse(ctx: RequestContext, signer: CmsSigner, status: number, f: CmcFailure, echo: Echo, headers: Record<string, string> = {}): Promise<void> {
  ctx.config.logger.debug?.({ code: 'ERR_EST_CMC', failInfo: f.failInfo, url: ctx.req.url, requestId: ctx.requestId }, f.message);
  await respond(ctx, signer, status, { status: 'failed', bodyList: f.bodyList, failInfo: f.failInfo, statusString: f.message, ...echo }, headers);
}

/** The Name in a revokeRequest equals `cert`'s issuer, and the serial is `cert`'s. */
function names(cert: X509Certificate, r: CmcRevokeRequest): boolean {
  if (BigInt('0x' + cert.serialNumber) !== r.serial) return false;
  try {
    return pkijsCertificate(new Uint8Array(cert.raw)).issuer.isEqual(new pkijs.RelativeDistinguishedNames({ schema: fromDer(r.issuerDer, 'Name') }));
  } catch {
    return false;
  }
}

/**
 * Who may revoke: the holder of the certificate (its verified TLS certificate, or the request's
 * validated signer) or a registration authority (extendedKeyUsage id-kp-cmcRA, RFC 6402 §2.10).
 */
function mayRevoke(requesters: X509Certificate[], r: CmcRevokeRequest): X509Certificate | undefined {
  return requesters.find((c) => names(c, r) || ((c.keyUsage as string[] | undefined) ?? []).includes(Oid.kpCmcRA));
}

async function revoke(ctx: RequestContext, signer: CmsSigner, request: FullPkiRequest, requesters: X509Certificate[], echo: Echo): Promise<boolean> {
  const store = ctx.config.store;
  const ids = request.revocations.map((r) => r.bodyPartId);
  if (!store) {
    await respond(ctx, signer, 501, { status: 'noSupport', bodyList: ids, statusString: 'revocation is not supported: this server keeps no record store', ...echo });
    return false;
  }
  // Only requesters the ledger has not revoked may revoke (a revoked RA or holder no longer may).
  const standing: X509Certificate[] = [];
  const revokedSerials: string[] = [];
  for (const c of requesters) {
    let revoked: boolean;
    try {
      revoked = await certificateRevoked(store, c);
    } catch (e) {
      const down = storeUnavailable(ctx, 'the certificate ledger cannot be read', e, { serial: c.serialNumber });
      await refuse(ctx, signer, down.status, new CmcFailure(CmcFailInfo.tryLater, down.message, ids), echo, { 'Retry-After': String(down.retryAfter) });
      return false;
    }
    if (revoked) revokedSerials.push(c.serialNumber.toUpperCase());
    else standing.push(c);
  }
  for (const r of request.revocations) {
    const reason = REASONS[r.reason];
    if (!reason) {
      await refuse(ctx, signer, 400, new CmcFailure(CmcFailInfo.badRequest, `unknown CRLReason ${r.reason}`, [r.bodyPartId]), echo);
      return false;
    }
    const by = mayRevoke(standing, r);
    if (!by) {
      const why = revokedSerials.length && mayRevoke(requesters, r)
        ? `the requester's certificate (serial ${revokedSerials.join(', ')}) has been revoked`
        : 'only the certificate holder or a CMC RA may revoke this certificate';
      await refuse(ctx, signer, 403, new CmcFailure(CmcFailInfo.badRequest, why, [r.bodyPartId]), echo);
      return false;
    }
    const serial = r.serial.toString(16).toUpperCase();
    try {
      await store.revoke(serial.length % 2 ? '0' + serial : serial, reason, `fullcmc:${by.subject.replace(/\n/g, ', ')}`);
    } catch (e) {
      if (!(e instanceof EstError)) throw e;
      const failInfo = e.status === 404 ? CmcFailInfo.badCertId : failInfoOf(e);
      await refuse(ctx, signer, e.status, new CmcFailure(failInfo, e.message, [r.bodyPartId]), echo);
      return false;
    }
    ctx.config.logger.info({ event: 'revoked', serial, reason, requestId: ctx.requestId, peerAddress: ctx.facts.peerAddress }, 'certificate revoked (fullcmc)');
  }
  return true;
}

/**
 * POST /fullcmc. Accepts `application/pkcs7-mime` (smime-type=CMC-request) holding a signed PKIData
 * with one PKCS#10 request and/or revokeRequest controls. The PKCS#10 goes through the same check,
 * approval and issue path as /simpleenroll. Needs a CMS signer (`cmsSigner`, or the file CA's key).
 */
export async function fullcmc(ctx: RequestContext): Promise<void> {
  const signer = ctx.config.cmsSigner;
  if (!signer) throw estError('ERR_EST_NOT_IMPLEMENTED', 'fullcmc is not available: no CMS signer (set cmsSigner; RFC 7030 §4.3: 501 means not supported)');
  const der = await readDerBody(ctx.req, [MediaType.pkcs7], ctx.config.maxBodySize, ctx.config.bodyTimeout);
  let request: FullPkiRequest;
  try {
    request = await readFullPkiRequest(der, (csrDer) => parseCsr(csrDer).spkiDer);
  } catch (e) {
    if (e instanceof CmcFailure) return refuse(ctx, signer, 400, e, {});
    throw e;
  }
  const echo: Echo = {};
  if (request.transactionId !== undefined) echo.transactionId = request.transactionId;
  if (request.senderNonce) echo.recipientNonce = request.senderNonce;

  // A signature by a certificate counts only when that certificate is valid here (RFC 5272 §3.2.1.3).
  const requesters: X509Certificate[] = [];
  if ('certificate' in request.signer) {
    const cert = request.signer.certificate;
    const others = request.certificates.filter((c) => c.fingerprint256 !== cert.fingerprint256);
    // The same bounds as a TLS client's chain, before any signature of it is verified.
    const limit = chainLimitProblem([cert, ...others], "the Full PKI Request's certificate chain");
    if (limit) return refuse(ctx, signer, 403, new CmcFailure(CmcFailInfo.badMessageCheck, `the Full PKI Request's signer is not trusted: ${limit}`, request.bodyPartIds), echo);
    const chain = await verifyChain(cert, others, ctx.config.trustAnchors);
    if (!chain.ok) return refuse(ctx, signer, 403, new CmcFailure(CmcFailInfo.badMessageCheck, `the Full PKI Request's signer is not trusted: ${chain.reason}`, request.bodyPartIds), echo);
    requesters.push(cert);
  }
  if (ctx.facts.clientCertificateVerified && ctx.facts.clientCertificate) requesters.push(ctx.facts.clientCertificate);

  if (request.revocations.length && !(await revoke(ctx, signer, request, requesters, echo))) return;
  const tcr = request.requests[0];
  if (!tcr) return respond(ctx, signer, 200, { status: 'success', bodyList: request.revocations.map((r) => r.bodyPartId), ...echo });

  let csr;
  try {
    csr = parseCsr(tcr.csrDer);
  } catch (e) {
    if (e instanceof DerError) return refuse(ctx, signer, 400, new CmcFailure(CmcFailInfo.badRequest, `malformed PKCS#10 request: ${e.message}`, [tcr.bodyPartId]), echo);
    throw e;
  }
  let certificate: Uint8Array;
  try {
    // The check stage and the issue seam of /simpleenroll: key policy, CSR signature, required
    // attributes, PoP linking, OTP, then [approve] → issue → [record].
    ({ certificate } = await issueChecked(ctx, await checkRequest(ctx, csr, 'fullcmc')));
  } catch (e) {
    if (!(e instanceof EstError)) throw e;
    if (e.status === 202) {
      // RFC 5272 §6.1.2: pending, with a token and when to ask again.
      const seconds = e.retryAfter ?? 60;
      const input: FullPkiResponseInput = { status: 'pending', bodyList: [tcr.bodyPartId], statusString: e.message, pendInfo: { token: randomBytes(16), time: new Date(Date.now() + seconds * 1000) }, ...echo };
      return respond(ctx, signer, 202, input, { 'Retry-After': String(seconds) });
    }
    return refuse(ctx, signer, e.status, new CmcFailure(failInfoOf(e), e.message, [tcr.bodyPartId]), echo);
  }
  const chain = ctx.config.cacertsDer ?? (await ctx.config.ca.cacerts(ctx.label));
  await respond(ctx, signer, 200, { status: 'success', bodyList: [tcr.bodyPartId], certificates: [certificate, ...chain], ...echo });
}
