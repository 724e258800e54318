// The locations of one nginx server: est_* directives read and merged like nginx, and each
// `est on` location converted into an est() endpoint.
import { behaviourChangesFor } from './behaviour-changes.js';
import { EST_DIRECTIVES, defaultSerialPath, directiveByName, type EstDirective } from '../middleware/directives.js';
import { NginxConfigError, type NginxDirective } from './nginx-config.js';
import { at, loc, type AnalyzeContext, type EstEndpoint, type FrontServer, type VerifyClient, type Where } from './plan.js';

const EST_NAMES = new Set(EST_DIRECTIVES.map((d) => d.directive));

/** est_* directives are valid in a location only, as in the module. */
export function notHere(d: NginxDirective): void {
  if (EST_NAMES.has(d.name)) throw new NginxConfigError(`"${d.name}" directive is not allowed here`, d.file, d.line);
}

export interface LocationInfo {
  modifier: string;
  path: string;
  d: NginxDirective;
}

/** The est_* directives in effect in a location: its own, or inherited `from` an enclosing one. */
export type EstSettings = Map<string, { d: NginxDirective; from?: LocationInfo }>;

/** A location with `est on`. */
export interface EstLocation {
  info: LocationInfo;
  est: EstSettings;
}

function estOnBelow(list: NginxDirective[]): boolean {
  return list.some((d) => d.name === 'location' && d.block && (d.block.some((x) => x.name === 'est' && x.args[0] === 'on') || estOnBelow(d.block)));
}

function locationArgs(d: NginxDirective): { modifier: string; path: string } {
  if (d.args.length === 1) {
    const a = d.args[0]!;
    if (a.startsWith('@')) return { modifier: '@', path: a };
    // `location =/x` is also valid nginx.
    for (const m of ['^~', '~*', '=', '~']) if (a.startsWith(m) && a.length > m.length) return { modifier: m, path: a.slice(m.length) };
    return { modifier: '', path: a };
  }
  if (d.args.length === 2 && ['=', '~', '~*', '^~'].includes(d.args[0]!)) return { modifier: d.args[0]!, path: d.args[1]! };
  throw new NginxConfigError(`invalid location modifier "${d.args[0] ?? ''}"`, d.file, d.line);
}

/** A location's own est_* directives, checked the way nginx checks them at load. */
function ownEstDirectives(block: NginxDirective[]): Map<string, NginxDirective> {
  const own = new Map<string, NginxDirective>();
  for (const x of block) {
    if (!EST_NAMES.has(x.name)) continue;
    if (own.has(x.name)) throw new NginxConfigError(`"${x.name}" directive is duplicate`, x.file, x.line);
    if (x.args.length !== 1) throw new NginxConfigError(`invalid number of arguments in "${x.name}" directive`, x.file, x.line);
    const spec = directiveByName(x.name)!;
    const v = x.args[0]!;
    if (spec.value === 'flag' && v !== 'on' && v !== 'off') {
      throw new NginxConfigError(`invalid value "${v}" in "${x.name}" directive, it must be "on" or "off"`, x.file, x.line);
    }
    if (spec.value === 'days' && !/^\d+$/.test(v)) throw new NginxConfigError(`invalid number "${v}" in "${x.name}" directive`, x.file, x.line);
    own.set(x.name, x);
  }
  return own;
}

/** Every location of a server, nested ones too, and those with `est on` with their merged settings. */
export function collectLocations(ctx: AnalyzeContext, block: NginxDirective[], scope: string): { locations: LocationInfo[]; found: EstLocation[] } {
  const locations: LocationInfo[] = [];
  const found: EstLocation[] = [];
  const walk = (list: NginxDirective[], inherited: EstSettings, parent?: LocationInfo): void => {
    for (const d of list) {
      if (d.name !== 'location' || !d.block) {
        if (!parent) notHere(d);
        continue;
      }
      const { modifier, path } = locationArgs(d);
      const info: LocationInfo = { modifier, path, d };
      locations.push(info);
      const own = ownEstDirectives(d.block);
      // nginx merge: a nested location inherits what it does not set; `est` itself is not inherited.
      const effective: EstSettings = new Map();
      for (const [k, v] of inherited) if (k !== 'est') effective.set(k, { d: v.d, from: v.from ?? parent });
      for (const [k, v] of own) effective.set(k, { d: v });
      if (own.get('est')?.args[0] === 'on') found.push({ info, est: effective });
      else if (own.size && !own.has('est') && !estOnBelow(d.block)) {
        ctx.items.push({ kind: 'unmapped', directive: 'est', text: `location ${path} sets est_* directives without \`est on\` (here or nested): not an EST endpoint, ignored`, where: at(d), action: `add \`est on;\` to location ${path} if it was meant to be an EST endpoint or label`, scope });
      }
      walk(d.block, effective, info);
    }
  };
  walk(block, new Map());
  return { locations, found };
}

/** Where the module's default serial file is (the middleware's one definition). */
export const moduleSerialPath = defaultSerialPath;

/** What a location's conversion needs to know of its server's front end. */
export interface ServerFacts {
  mode: FrontServer['mode'];
  verifyClient: VerifyClient;
  clientCertificate?: string;
  /** Where ssl_client_certificate was set. */
  clientCertificateAt?: Where;
}

/** The authRequest URL an est_auth_request URI stands for (see auth.ts), or undefined after reporting why not. */
export type AuthResolver = (uri: string, d: NginxDirective, escope: string) => { url: string; location?: LocationInfo; timeoutMs?: number } | undefined;

/** Converts one `est on` location into an endpoint, reporting each directive; undefined for a named or regex location. */
export function convertLocation(ctx: AnalyzeContext, f: EstLocation, server: ServerFacts, resolveAuth: AuthResolver): EstEndpoint | undefined {
  const { info, est } = f;
  const escope = `location ${info.modifier ? info.modifier + ' ' : ''}${info.path} (${loc(at(info.d))})`;
  if (info.modifier !== '' && info.modifier !== '=' && info.modifier !== '^~') {
    ctx.items.push({ kind: 'error', directive: 'est', text: `est on in a ${info.modifier === '@' ? 'named' : 'regex'} location cannot become a mount path`, where: at(info.d), action: 'use a prefix location (location /.well-known/est/<label>)', scope: escope });
    return undefined;
  }
  const clientCerts = server.verifyClient !== 'off';
  const endpoint: EstEndpoint = {
    path: info.path.length > 1 ? info.path.replace(/\/+$/, '') : info.path,
    modifier: info.modifier as EstEndpoint['modifier'],
    where: at(info.d),
    options: [],
    traits: { pop: false, authRequest: false, csrAttrs: false, clientCerts, directTls: server.mode === 'stream' },
    changes: [],
  };
  ctx.items.push({ kind: 'mapped', directive: 'est', text: `on → app.use('${endpoint.path}', est({...}))`, where: at(est.get('est')!.d), scope: escope });
  const convert = new DirectiveConverter(ctx, est, endpoint, escope, resolveAuth);
  for (const spec of EST_DIRECTIVES) {
    if (!spec.option) continue;
    if (est.has(spec.directive)) convert.written(spec);
    else convert.notWritten(spec);
  }
  clientCertificateOptions(ctx, endpoint, server, escope);
  if (endpoint.traits.pop && server.mode === 'stream') {
    endpoint.options.push({ key: 'popAcceptTls13Finished', value: true, comment: 'TLS 1.3: also accept the Finished-based value nginx-http-est compared' });
  }
  endpoint.changes = behaviourChangesFor(endpoint.traits);
  return endpoint;
}

/** How client certificates reach est(): trust anchors, and for a proxy front end the headers it sets. */
function clientCertificateOptions(ctx: AnalyzeContext, endpoint: EstEndpoint, server: ServerFacts, escope: string): void {
  if (server.verifyClient === 'off') {
    ctx.items.push({ kind: 'default', directive: 'ssl_verify_client', text: 'off → no client certificates: enrollment needs est_auth_request', scope: escope });
    return;
  }
  if (server.clientCertificate) {
    endpoint.options.push({ key: 'trustAnchors', value: server.clientCertificate, comment: `ssl_client_certificate (${loc(server.clientCertificateAt!)}): the app verifies client certificates itself` });
  } else {
    ctx.items.push({ kind: 'default', directive: 'ssl_client_certificate', text: `not set (ssl_verify_client ${server.verifyClient}) → trustAnchors default: the CA chain`, scope: escope });
  }
  if (server.mode === 'proxy') {
    endpoint.options.push({ key: 'trustProxy', value: 'loopback', comment: 'only the nginx front end (127.0.0.1) may pass client-certificate headers' });
    endpoint.options.push({ key: 'proxyHeaders', value: 'nginx', comment: 'X-SSL-Client-Cert ($ssl_client_escaped_cert), X-SSL-Client-Verify' });
  }
}

/** Turns one location's est_* directives into est() options and report lines. */
class DirectiveConverter {
  constructor(
    private readonly ctx: AnalyzeContext,
    private readonly est: EstSettings,
    private readonly endpoint: EstEndpoint,
    private readonly escope: string,
    private readonly resolveAuth: AuthResolver,
  ) {}

  private record(name: string, option: string, value: string | number | boolean, shown?: string): void {
    const e = this.est.get(name)!;
    const where = at(e.d);
    const from = e.from ? ` from location ${e.from.path}` : '';
    this.ctx.items.push({ kind: e.from ? 'inherited' : 'mapped', directive: name, text: `${e.d.args[0]}${from} → ${option}: ${shown ?? JSON.stringify(value)}`, where, scope: this.escope });
    this.endpoint.options.push({ key: option, value, comment: `${name} (${loc(where)}${e.from ? `, inherited from location ${e.from.path}` : ''})` });
  }

  /** A file path, made absolute; a variable in it is a report error. */
  private path(name: string): string {
    const v = this.est.get(name)!.d.args[0]!;
    if (v.includes('$')) {
      this.ctx.items.push({ kind: 'error', directive: name, text: `${v}: variables cannot be converted`, where: at(this.est.get(name)!.d), action: 'write the file path', scope: this.escope });
    }
    return this.ctx.abs(v);
  }

  /** A directive the location does not set: the module's default, derived, or an error. */
  notWritten(spec: EstDirective): void {
    const name = spec.directive;
    const { items } = this.ctx;
    if (name === 'est_ca_serial_number') {
      if (!this.est.has('est_ca_root_certificate')) return;
      const p = moduleSerialPath(this.path('est_ca_root_certificate'));
      items.push({ kind: 'default', directive: name, text: `not set → caSerialNumber: ${JSON.stringify(p)} (derived from est_ca_root_certificate, like the module)`, scope: this.escope });
      this.endpoint.options.push({ key: 'caSerialNumber', value: p, comment: 'est_ca_serial_number default: derived from est_ca_root_certificate, like the module' });
    } else if (name === 'est_ca_root_certificate' || name === 'est_ca_private_key') {
      items.push({ kind: 'error', directive: name, text: 'not set: the endpoint cannot issue certificates', where: this.endpoint.where, action: `add ${name} to the location`, scope: this.escope });
    } else {
      items.push({ kind: 'default', directive: name, text: `not set → ${spec.option} default (${spec.default})`, scope: this.escope });
    }
  }

  /** A directive the location sets (or inherits). */
  written(spec: EstDirective): void {
    const name = spec.directive;
    const option = spec.option!;
    const raw = this.est.get(name)!.d.args[0]!;
    switch (spec.value) {
      case 'path':
        this.record(name, option, this.path(name));
        if (name === 'est_csr_attrs') this.endpoint.traits.csrAttrs = true;
        break;
      case 'flag':
        if (raw === 'on') this.record(name, option, true);
        else this.ctx.items.push({ kind: 'mapped', directive: name, text: `off → ${option} default (false)`, where: at(this.est.get(name)!.d), scope: this.escope });
        if (name === 'est_pop') this.endpoint.traits.pop = raw === 'on';
        break;
      case 'days':
        this.record(name, option, Number(raw));
        break;
      case 'uri':
        this.authRequest(name, option, raw);
        break;
    }
  }

  private authRequest(name: string, option: string, raw: string): void {
    const resolved = this.resolveAuth(raw, this.est.get(name)!.d, this.escope);
    if (!resolved) return;
    this.record(name, option, resolved.url, `${JSON.stringify(resolved.url)} (via location ${resolved.location ? resolved.location.path : '--auth-url'})`);
    this.endpoint.traits.authRequest = true;
    if (resolved.timeoutMs !== undefined) {
      this.endpoint.options.push({ key: 'authRequestTimeout', value: resolved.timeoutMs, comment: `proxy_read_timeout of the auth location` });
    }
  }
}
