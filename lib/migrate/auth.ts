// est_auth_request: the nginx URI resolved to the auth location's backend URL, for `authRequest`.
import type { NginxDirective } from './nginx-config.js';
import type { AuthResolver, LocationInfo } from './location.js';
import { at, loc, type AnalyzeContext } from './plan.js';

/** Auth-location directives the app's authRequest already does, or that do not matter for it. */
const AUTH_IMPLIED = new Set(['internal', 'proxy_pass', 'proxy_pass_request_body', 'proxy_http_version']);
const AUTH_IMPLIED_HEADERS = new Set(['content-length', 'x-original-uri', 'x-original-method', 'host', 'connection']);

/** nginx time (`5s`, `1m`, `500ms`, `60`) in milliseconds, or undefined. */
export function nginxTimeMs(v: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000);
}

/** The location nginx would pick for a subrequest to `path`: exact, then `^~` prefix, then regex, then the longest prefix. */
function matchLocation(locations: readonly LocationInfo[], path: string): LocationInfo | undefined {
  const exact = locations.find((l) => l.modifier === '=' && l.path === path);
  if (exact) return exact;
  const prefixes = locations.filter((l) => (l.modifier === '' || l.modifier === '^~') && path.startsWith(l.path)).sort((a, b) => b.path.length - a.path.length);
  const best = prefixes[0];
  if (best && best.modifier === '^~') return best;
  const regex = locations.find((l) => {
    if (l.modifier !== '~' && l.modifier !== '~*') return false;
    try {
      return new RegExp(l.path, l.modifier === '~*' ? 'i' : '').test(path);
    } catch {
      return false;
    }
  });
  return regex ?? best;
}

/**
 * Resolves est_auth_request URIs of one server. Locations used as auth targets are added to
 * `authTargets` (they are not reported again as left-over locations).
 */
export function authResolver(ctx: AnalyzeContext, locations: readonly LocationInfo[], authTargets: Set<LocationInfo>): AuthResolver {
  return (uri, d, escope) => {
    const override = ctx.options.authUrls?.[uri];
    if (override) return { url: override };
    if (/^https?:\/\//.test(uri)) return { url: uri };
    const fail = (text: string, action = `pass --auth-url ${uri}=http://host:port/path`) => {
      ctx.items.push({ kind: 'error', directive: 'est_auth_request', text: `${uri}: ${text}`, where: at(d), action, scope: escope });
      return undefined;
    };
    if (uri.includes('$')) return fail('variables cannot be converted');
    const q = uri.indexOf('?');
    const path = q < 0 ? uri : uri.slice(0, q);
    const target = matchLocation(locations, path);
    if (!target) return fail('no location in this server matches it');
    authTargets.add(target);
    const pp = target.d.block!.find((x) => x.name === 'proxy_pass');
    if (!pp || !pp.args[0]) {
      return fail(`location ${target.path} (${loc(at(target.d))}) has no proxy_pass: there is no backend URL to call`, 'run the check as an HTTP service and pass --auth-url');
    }
    const raw = pp.args[0];
    if (raw.includes('$')) return fail(`proxy_pass ${raw} uses variables`);
    const m = /^(https?):\/\/([^/]+)(\/.*)?$/.exec(raw);
    if (!m) return fail(`proxy_pass ${raw} is not an http(s) URL`);
    const host = backendHost(ctx, m[2]!, escope, fail);
    if (host === undefined) return undefined;
    // proxy_pass with a URI: the matched location prefix is replaced by it.
    const url = m[3] !== undefined ? `${m[1]}://${host}${m[3]}${target.modifier === '=' ? '' : path.slice(target.path.length)}${q < 0 ? '' : uri.slice(q)}` : `${m[1]}://${host}${uri}`;
    ctx.items.push({ kind: 'mapped', directive: 'location', text: `${target.modifier ? target.modifier + ' ' : ''}${target.path} (proxy_pass ${raw}) → authRequest ${url}; the location is not needed in nginx any more`, where: at(target.d), scope: escope });
    const timeoutMs = reportAuthLocation(ctx, target.d.block!, escope);
    return timeoutMs === undefined ? { url, location: target } : { url, location: target, timeoutMs };
  };
}

/** proxy_pass's host, or the first server of the upstream it names; undefined after `fail`. */
function backendHost(ctx: AnalyzeContext, host: string, escope: string, fail: (text: string) => undefined): string | undefined {
  const up = ctx.upstreams.get(host);
  if (!up) return host.startsWith('unix:') ? fail('proxy_pass to a unix socket cannot be called by URL') : host;
  const members = up.block!.filter((x) => x.name === 'server');
  const first = members[0]?.args[0];
  if (!first || first.startsWith('unix:')) return fail(`upstream ${host} has no TCP server`);
  if (members.length > 1) {
    ctx.items.push({ kind: 'unmapped', directive: 'upstream', text: `${host} has ${members.length} servers: the app calls the first, ${first}`, where: at(up), action: 'put a load balancer in front of the auth backends if you need more than one', scope: escope });
  }
  return first;
}

/** Reports what the auth location did besides proxy_pass; returns its proxy_read_timeout in ms. */
function reportAuthLocation(ctx: AnalyzeContext, block: readonly NginxDirective[], escope: string): number | undefined {
  let timeoutMs: number | undefined;
  for (const x of block) {
    if (AUTH_IMPLIED.has(x.name)) continue;
    if (x.name === 'proxy_set_header' && AUTH_IMPLIED_HEADERS.has((x.args[0] ?? '').toLowerCase())) continue;
    if (x.name === 'proxy_read_timeout' && nginxTimeMs(x.args[0] ?? '') !== undefined) {
      timeoutMs = nginxTimeMs(x.args[0]!);
      ctx.items.push({ kind: 'mapped', directive: 'proxy_read_timeout', text: `${x.args[0]} → authRequestTimeout: ${timeoutMs}`, where: at(x), scope: escope });
      continue;
    }
    ctx.items.push({
      kind: 'unmapped', directive: x.name, text: `${x.args.join(' ')} (in the auth location): not carried over`, where: at(x), scope: escope,
      action: 'the app sends the client\'s headers plus X-Original-URI and X-Original-Method to the backend; adapt the backend if it relied on this',
    });
  }
  return timeoutMs;
}
