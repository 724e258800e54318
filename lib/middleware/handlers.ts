// The operations that issue nothing: /cacerts and /csrattrs.
import { estError } from '../errors.js';
import { MediaType } from '../protocol/constants.js';
import { encodeCertsOnly } from '../protocol/pkcs7.js';
import type { RequestContext } from './context.js';
import { prepareBase64, send, type Prepared } from './respond.js';

/** 204: no CSR attributes (RFC 7030 §4.5.2). */
export const NO_CONTENT: Prepared = { status: 204, headers: {}, body: Buffer.alloc(0) };

/** GET /cacerts (RFC 7030 §4.1): pre-encoded when the certificates are constant. */
export async function cacerts(ctx: RequestContext): Promise<void> {
  if (ctx.prepared.cacerts) return send(ctx.req, ctx.res, ctx.prepared.cacerts);
  const certs = await ctx.config.ca.cacerts(ctx.label);
  if (!certs.length) throw estError('ERR_EST_CA', 'the CA has no certificates to distribute');
  send(ctx.req, ctx.res, prepareBase64(MediaType.pkcs7, encodeCertsOnly(certs)));
}

/** GET /csrattrs (RFC 7030 §4.5): the configured DER unchanged, or 204 when there is none. */
export async function csrattrs(ctx: RequestContext): Promise<void> {
  const { prepared } = ctx;
  if (!prepared.csrattrsFromCa) return send(ctx.req, ctx.res, prepared.csrattrs ?? NO_CONTENT);
  const der = prepared.popCsrAttrs(await ctx.config.ca.csrattrs!(ctx.label));
  send(ctx.req, ctx.res, der ? prepareBase64(MediaType.csrattrs, der) : NO_CONTENT);
}
