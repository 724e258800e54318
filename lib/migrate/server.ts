// One nginx `server` with EST locations → a front end to regenerate and the app's endpoints.
import { authResolver } from './auth.js';
import { readFrontEnd, streamFrontEnd } from './front-end.js';
import { collectLocations, convertLocation, type EstLocation, type LocationInfo, type ServerFacts } from './location.js';
import type { NginxDirective } from './nginx-config.js';
import { at, loc, type AnalyzeContext, type FrontServer } from './plan.js';

const popOn = (f: EstLocation) => f.est.get('est_pop')?.d.args[0] === 'on';

/** Converts a server block; undefined when it has no `est on` location. `index` numbers the servers converted (from 1). */
export function convertServer(ctx: AnalyzeContext, sd: NginxDirective, httpSsl: readonly NginxDirective[], index: number): FrontServer | undefined {
  const scope = `server at ${loc(at(sd))}`;
  const { locations, found } = collectLocations(ctx, sd.block!, scope);
  if (found.length === 0) return undefined;

  const front = readFrontEnd(ctx, sd, httpSsl, scope);
  const mode: FrontServer['mode'] = found.some(popOn) ? 'stream' : 'proxy';
  const server: FrontServer = { index, where: at(sd), listen: front.listen, ssl: front.ssl.map(({ name, args }) => ({ name, args })), verifyClient: front.verifyClient, mode, backendPort: ctx.nextPort(), endpoints: [] };
  if (front.serverName) server.serverName = front.serverName;
  if (front.clientCertificate) server.clientCertificate = front.clientCertificate;
  if (mode === 'stream') streamFrontEnd(ctx, sd, front, server, found.filter(popOn).map((f) => f.info.path).join(', '), scope);

  const facts: ServerFacts = { mode, verifyClient: front.verifyClient };
  if (front.clientCertificate) {
    facts.clientCertificate = front.clientCertificate;
    facts.clientCertificateAt = at(front.last('ssl_client_certificate')!.d);
  }
  const authTargets = new Set<LocationInfo>();
  const resolveAuth = authResolver(ctx, locations, authTargets);
  // Longest path first, like nginx's longest-prefix match: est() answers 404 for paths it does not know.
  found.sort((a, b) => b.info.path.length - a.info.path.length);
  for (const f of found) {
    const endpoint = convertLocation(ctx, f, facts, resolveAuth);
    if (endpoint) server.endpoints.push(endpoint);
  }
  reportOtherLocations(ctx, locations, found, authTargets, mode, scope);
  return server;
}

/** Locations that are neither EST endpoints nor auth targets: covered by a mount, or the user's own. */
function reportOtherLocations(ctx: AnalyzeContext, locations: readonly LocationInfo[], found: readonly EstLocation[], authTargets: ReadonlySet<LocationInfo>, mode: FrontServer['mode'], scope: string): void {
  for (const o of locations) {
    if (found.some((f) => f.info === o) || authTargets.has(o)) continue;
    // Nested locations inside an EST location are covered by the mount; others are the user's own.
    const inside = found.some((f) => o.path.startsWith(f.info.path) && f.info.modifier !== '=');
    ctx.items.push({
      kind: 'unmapped', directive: 'location', where: at(o.d), scope,
      text: inside
        ? `${o.path}: nested in an EST location without \`est on\`: nginx-http-est ran the inherited authentication there first (a 401, 403 or 500 from the client certificate check or est_auth_request came before the 404), then answered 404; the app's mount answers 404 at once`
        : `${o.modifier ? o.modifier + ' ' : ''}${o.path}: not an EST location; not carried over${mode === 'stream' ? ' (this server\'s TLS port now passes straight to the app)' : ''}`,
      action: inside ? `add \`est on;\` to location ${o.path} if it was meant to be an EST label (it then becomes its own est() mount)` : mode === 'stream' ? 'serve it from another server/port, or put HAProxy in front (see README)' : 'keep it in your existing nginx server block',
    });
  }
}
