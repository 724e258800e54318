// The TLS front end of one nginx server: its ssl_* directives (merged with http's like nginx),
// listen and server_name, client-certificate verification, and for est_pop the app's own TLS server.
import { NginxConfigError, type NginxDirective } from './nginx-config.js';
import { at, type AnalyzeContext, type FrontServer, type VerifyClient } from './plan.js';

/** ssl_* directives whose arguments are files, resolved against the conf prefix like nginx does. */
const SSL_FILE_DIRECTIVES = new Set([
  'ssl_certificate', 'ssl_certificate_key', 'ssl_client_certificate', 'ssl_trusted_certificate', 'ssl_crl',
  'ssl_dhparam', 'ssl_password_file', 'ssl_session_ticket_key', 'ssl_stapling_file',
]);

/** ssl_* directives the app's own TLS server applies (or that do not matter to it). */
const CARRIED_TO_APP_TLS = new Set(['ssl_certificate', 'ssl_certificate_key', 'ssl_client_certificate', 'ssl_verify_client', 'ssl_protocols', 'ssl_ciphers', 'ssl_prefer_server_ciphers', 'ssl_ecdh_curve', 'ssl', 'ssl_session_cache', 'ssl_session_timeout']);

const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

export interface SslDirective {
  name: string;
  args: string[];
  d: NginxDirective;
}

/** The front end as read from a server block. */
export interface FrontEnd {
  ssl: SslDirective[];
  listen: string[][];
  serverName?: string[];
  verifyClient: VerifyClient;
  clientCertificate?: string;
  /** The effective (last) ssl_* directive of a name. */
  last(name: string): SslDirective | undefined;
}

/** Reads a server's front end and reports its ssl_*, listen and server_name directives. */
export function readFrontEnd(ctx: AnalyzeContext, sd: NginxDirective, httpSsl: readonly NginxDirective[], scope: string): FrontEnd {
  const block = sd.block!;
  // ssl_*: the server's own directives of a name replace http's (nginx merge), files made absolute.
  const serverSsl = block.filter((d) => d.name.startsWith('ssl_') || d.name === 'ssl');
  const names = new Set(serverSsl.map((d) => d.name));
  const ssl = [...httpSsl.filter((d) => !names.has(d.name)), ...serverSsl].map((d) => ({
    name: d.name,
    args: SSL_FILE_DIRECTIVES.has(d.name) ? d.args.map((a) => (a.includes('$') || a.startsWith('data:') || a.startsWith('engine:') ? a : ctx.abs(a))) : d.args,
    d,
  }));
  for (const s of ssl) {
    ctx.items.push({ kind: serverSsl.includes(s.d) ? 'mapped' : 'inherited', directive: s.name, text: `${s.args.join(' ')} → nginx front end${s.d.name === 'ssl_client_certificate' ? ' and `trustAnchors`' : ''}`, where: at(s.d), scope });
  }
  const listen = block.filter((d) => d.name === 'listen').map((d) => d.args);
  for (const d of block.filter((x) => x.name === 'listen' || x.name === 'server_name')) {
    ctx.items.push({ kind: 'mapped', directive: d.name, text: `${d.args.join(' ')} → nginx front end`, where: at(d), scope });
  }
  if (listen.length === 0) listen.push(['80']);
  const last = (name: string) => [...ssl].reverse().find((s) => s.name === name);
  const vc = last('ssl_verify_client')?.args[0] ?? 'off';
  if (!['off', 'on', 'optional', 'optional_no_ca'].includes(vc)) {
    const d = last('ssl_verify_client')!.d;
    throw new NginxConfigError(`invalid value "${vc}" in "ssl_verify_client" directive`, d.file, d.line);
  }
  const verifyClient = vc as VerifyClient;
  const clientCertificate = last('ssl_client_certificate')?.args[0];
  if ((verifyClient === 'on' || verifyClient === 'optional') && !clientCertificate && !last('ssl_trusted_certificate')) {
    throw new NginxConfigError('no ssl_client_certificate for ssl_verify_client', sd.file, sd.line);
  }
  const front: FrontEnd = { ssl, listen, verifyClient, last };
  const serverName = block.find((d) => d.name === 'server_name')?.args;
  if (serverName) front.serverName = serverName;
  if (clientCertificate) front.clientCertificate = clientCertificate;
  return front;
}

/** ssl_protocols as the app's minVersion/maxVersion (TLS 1.2 at the least). */
function tlsVersions(ctx: AnalyzeContext, front: FrontEnd, scope: string): { minVersion: string; maxVersion?: string } {
  const protos = (front.last('ssl_protocols')?.args ?? []).filter((p) => /^TLSv1(\.[0-3])?$/.test(p));
  if (!protos.length) return { minVersion: 'TLSv1.2' };
  const idx = protos.map((p) => TLS_VERSIONS.indexOf(p)).sort();
  if (idx[0]! < 2) ctx.items.push({ kind: 'unmapped', directive: 'ssl_protocols', text: `${protos.join(' ')}: the app's TLS server accepts TLSv1.2 and later only`, where: at(front.last('ssl_protocols')!.d), action: 'nothing (TLS 1.0/1.1 are obsolete)', scope });
  return { minVersion: TLS_VERSIONS[Math.max(2, idx[0]!)]!, maxVersion: TLS_VERSIONS[Math.max(2, idx[idx.length - 1]!)]! };
}

/** The app's own TLS server settings (est_pop: nginx passes TCP through), reporting what it cannot apply. */
function appTls(ctx: AnalyzeContext, front: FrontEnd, cert: SslDirective, key: SslDirective, scope: string): NonNullable<FrontServer['tls']> {
  const { ssl, last, verifyClient, clientCertificate } = front;
  const certs = ssl.filter((s) => s.name === 'ssl_certificate');
  if (certs.length > 1) ctx.items.push({ kind: 'unmapped', directive: 'ssl_certificate', text: 'several server certificates: the app\'s TLS server uses the last one', where: at(cert.d), action: 'pass the others to https.createServer yourself (SNI/multiple key types)', scope });
  const { minVersion, maxVersion } = tlsVersions(ctx, front, scope);
  const tls: NonNullable<FrontServer['tls']> = { cert: cert.args[0]!, key: key.args[0]!, requestCert: verifyClient !== 'off', rejectUnauthorized: verifyClient === 'on', minVersion };
  if (maxVersion) tls.maxVersion = maxVersion;
  if (clientCertificate) tls.ca = clientCertificate;
  const ciphers = last('ssl_ciphers');
  if (ciphers) tls.ciphers = ciphers.args[0]!;
  const prefer = last('ssl_prefer_server_ciphers');
  if (prefer) tls.honorCipherOrder = prefer.args[0] === 'on';
  const curve = last('ssl_ecdh_curve');
  if (curve) tls.ecdhCurve = curve.args[0]!;
  for (const s of ssl) {
    if (!CARRIED_TO_APP_TLS.has(s.name)) ctx.items.push({ kind: 'unmapped', directive: s.name, text: `${s.args.join(' ')}: not applied by the app's own TLS server`, where: at(s.d), action: 'set the matching https.createServer option in the generated app if you need it', scope });
  }
  if (verifyClient === 'on') ctx.items.push({ kind: 'unmapped', directive: 'ssl_verify_client', text: 'on: the app\'s TLS server refuses the handshake without a trusted client certificate (nginx answered HTTP 400)', where: at(last('ssl_verify_client')!.d), action: 'nothing, unless clients depend on the 400 page', scope });
  return tls;
}

/** Stream mode (est_pop on somewhere in the server): the app terminates TLS itself behind nginx's TCP pass-through. */
export function streamFrontEnd(ctx: AnalyzeContext, sd: NginxDirective, front: FrontEnd, server: FrontServer, pops: string, scope: string): void {
  ctx.items.push({
    kind: 'mapped', directive: 'est_pop', scope,
    text: `on in ${pops}: nginx cannot pass tls-unique, so this server's TLS ports become nginx \`stream\` TCP pass-through to the app's own HTTPS server`,
  });
  const cert = front.last('ssl_certificate');
  const key = front.last('ssl_certificate_key');
  if (!cert || !key) {
    ctx.items.push({ kind: 'error', directive: 'est_pop', text: 'est_pop on needs ssl_certificate and ssl_certificate_key in the server for the app\'s own TLS server', where: at(sd), action: 'add them, or put HAProxy in front (see README)', scope });
  } else {
    server.tls = appTls(ctx, front, cert, key, scope);
  }
  const plain = front.listen.filter((l) => !l.includes('ssl'));
  if (plain.length && !front.ssl.some((s) => s.name === 'ssl' && s.args[0] === 'on')) {
    ctx.items.push({ kind: 'unmapped', directive: 'listen', text: `${plain.map((l) => l.join(' ')).join(', ')}: plain HTTP cannot carry PoP; not carried over`, where: at(sd), action: 'clients must use the TLS port', scope });
  }
  ctx.items.push({ kind: 'unmapped', directive: 'real client address', text: 'behind stream pass-through the app sees nginx\'s address, not the client\'s', scope, action: 'use HAProxy in front if you need client addresses in the issuance log' });
}
