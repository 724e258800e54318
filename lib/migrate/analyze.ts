// Reads a parsed nginx config into a migration plan: EST endpoints, their est() options, the TLS front ends, a report.
import { basename, isAbsolute, join } from 'node:path';
import { NginxConfigError, type NginxConfig, type NginxDirective } from './nginx-config.js';
import { EST_DIRECTIVES, defaultSerialPath, directiveByName } from '../middleware/directives.js';
import { behaviourChangesFor, type BehaviourChange, type EndpointTraits } from './behaviour-changes.js';

export interface Where {
  file: string;
  line: number;
}

/** One line of the migration report. */
export interface ReportItem {
  /**
   * mapped: carried over as written; inherited: taken from an enclosing block like nginx does;
   * default: not written, the module's default applies; unmapped: dropped or changed, with what to do;
   * error: cannot convert (nothing is written).
   */
  kind: 'mapped' | 'inherited' | 'default' | 'unmapped' | 'error';
  directive: string;
  /** What it became. */
  text: string;
  where?: Where;
  /** What the operator should do (unmapped / error). */
  action?: string;
  /** The endpoint or server it belongs to. */
  scope: string;
}

/** One `est()` option of a generated `app.use()`. */
export interface OptionLine {
  key: string;
  value: string | number | boolean;
  /** Source comment: the directive and where it came from. */
  comment: string;
}

export interface EstEndpoint {
  /** The location path, which becomes the mount path. */
  path: string;
  modifier: '' | '=' | '^~';
  where: Where;
  options: OptionLine[];
  traits: EndpointTraits;
  changes: BehaviourChange[];
}

export type VerifyClient = 'off' | 'on' | 'optional' | 'optional_no_ca';

/** One nginx `server` with at least one EST location: the front end to regenerate. */
export interface FrontServer {
  index: number;
  where: Where;
  /** `listen` argument lists, as written. */
  listen: string[][];
  serverName?: string[];
  /** Effective ssl_* directives (server's own, else http's), file paths made absolute. */
  ssl: { name: string; args: string[] }[];
  verifyClient: VerifyClient;
  /** Absolute path of ssl_client_certificate, when set. */
  clientCertificate?: string;
  /** proxy: nginx terminates TLS and proxies HTTP; stream: nginx passes TCP to the app's own TLS server (est_pop). */
  mode: 'proxy' | 'stream';
  backendPort: number;
  endpoints: EstEndpoint[];
  /** For stream mode: the app's TLS server settings. */
  tls?: {
    cert: string;
    key: string;
    ca?: string;
    requestCert: boolean;
    rejectUnauthorized: boolean;
    minVersion: string;
    maxVersion?: string;
    ciphers?: string;
    honorCipherOrder?: boolean;
    ecdhCurve?: string;
  };
}

export interface MigrationPlan {
  configFile: string;
  prefix: string;
  files: string[];
  servers: FrontServer[];
  items: ReportItem[];
  /** `load_module` lines kept (every one but the EST module). */
  loadModules: string[];
  ok: boolean;
}

export interface AnalyzeOptions {
  /** Ports for the app, one per converted server, in order; more are allocated upwards. @default [8080] */
  backendPorts?: number[];
  /** Overrides for est_auth_request URIs that cannot be resolved: nginx URI → URL. */
  authUrls?: Record<string, string>;
}

const EST_NAMES = new Set(EST_DIRECTIVES.map((d) => d.directive));
/** ssl_* directives whose arguments are files, resolved against the conf prefix like nginx does. */
const SSL_FILE_DIRECTIVES = new Set([
  'ssl_certificate', 'ssl_certificate_key', 'ssl_client_certificate', 'ssl_trusted_certificate', 'ssl_crl',
  'ssl_dhparam', 'ssl_password_file', 'ssl_session_ticket_key', 'ssl_stapling_file',
]);
/** Auth-location directives the app's authRequest already does, or that do not matter for it. */
const AUTH_IMPLIED = new Set(['internal', 'proxy_pass', 'proxy_pass_request_body', 'proxy_http_version']);
const AUTH_IMPLIED_HEADERS = new Set(['content-length', 'x-original-uri', 'x-original-method', 'host', 'connection']);

function at(d: NginxDirective): Where {
  return { file: d.file, line: d.line };
}

function loc(w: Where): string {
  return `${w.file}:${w.line}`;
}

/** Where the module's default serial file is (the middleware's one definition). */
export const moduleSerialPath = defaultSerialPath;

/** nginx time (`5s`, `1m`, `500ms`, `60`) in milliseconds, or undefined. */
export function nginxTimeMs(v: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000);
}

interface LocationInfo {
  modifier: string;
  path: string;
  d: NginxDirective;
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

/** Builds the plan. Throws NginxConfigError for what nginx itself would refuse; conversion problems are report errors. */
export function analyze(config: NginxConfig, options: AnalyzeOptions = {}): MigrationPlan {
  const items: ReportItem[] = [];
  const servers: FrontServer[] = [];
  const loadModules: string[] = [];
  const upstreams = new Map<string, NginxDirective>();
  const ports = [...(options.backendPorts ?? [])];
  const nextPort = () => {
    const p = ports.length ? ports.shift()! : lastPort + 1;
    lastPort = p;
    return p;
  };
  let lastPort = 8079;
  const abs = (p: string) => (isAbsolute(p) ? p : join(config.prefix, p));

  const notHere = (d: NginxDirective) => {
    if (EST_NAMES.has(d.name)) throw new NginxConfigError(`"${d.name}" directive is not allowed here`, d.file, d.line);
  };

  // Collect upstreams first: proxy_pass may name one defined later.
  for (const top of config.directives) {
    if (top.name === 'http' && top.block) for (const d of top.block) if (d.name === 'upstream' && d.block && d.args[0]) upstreams.set(d.args[0], d);
  }

  for (const top of config.directives) {
    notHere(top);
    if (top.name === 'load_module') {
      const m = top.args[0] ?? '';
      if (/(^|_)est(_|\.)/i.test(basename(m))) {
        items.push({ kind: 'mapped', directive: 'load_module', text: `${m}: not needed any more (EST is served by the app)`, where: at(top), scope: 'main' });
      } else if (/stream/.test(basename(m))) loadModules.push(abs(m));
    }
    if (top.name === 'stream') {
      items.push({ kind: 'unmapped', directive: 'stream', text: 'existing stream {} block not carried over', where: at(top), action: 'keep it in your own nginx configuration', scope: 'main' });
    }
    if (top.name !== 'http' || !top.block) continue;
    const httpSsl = top.block.filter((d) => d.name.startsWith('ssl_') || d.name === 'ssl');
    for (const d of top.block) {
      notHere(d);
      if (d.name !== 'server' || !d.block) continue;
      const server = convertServer(d, httpSsl);
      if (server) servers.push(server);
    }
  }

  function convertServer(sd: NginxDirective, httpSsl: NginxDirective[]): FrontServer | undefined {
    const block = sd.block!;
    const scope = `server at ${loc(at(sd))}`;
    const locations: LocationInfo[] = [];
    const found: { info: LocationInfo; est: Map<string, { d: NginxDirective; from?: LocationInfo }> }[] = [];

    function walk(list: NginxDirective[], inherited: Map<string, { d: NginxDirective; from?: LocationInfo }>, parent?: LocationInfo) {
      for (const d of list) {
        if (d.name !== 'location' || !d.block) {
          if (!parent) notHere(d);
          continue;
        }
        const { modifier, path } = locationArgs(d);
        const info: LocationInfo = { modifier, path, d };
        locations.push(info);
        const own = new Map<string, NginxDirective>();
        for (const x of d.block) {
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
        // nginx merge: a nested location inherits what it does not set; `est` itself is not inherited.
        const effective = new Map<string, { d: NginxDirective; from?: LocationInfo }>();
        for (const [k, v] of inherited) if (k !== 'est') effective.set(k, { d: v.d, from: v.from ?? parent });
        for (const [k, v] of own) effective.set(k, { d: v });
        if (own.get('est')?.args[0] === 'on') found.push({ info, est: effective });
        else if (own.size && !own.has('est') && !estOnBelow(d.block)) {
          items.push({ kind: 'unmapped', directive: 'est', text: `location ${path} sets est_* directives without \`est on\` (here or nested): not an EST endpoint, ignored`, where: at(d), action: 'nothing, unless it was meant to be an endpoint', scope });
        }
        walk(d.block, effective, info);
      }
    }
    walk(block, new Map());
    if (found.length === 0) return undefined;

    // ssl_*: the server's own directives of a name replace http's (nginx merge), files made absolute.
    const serverSsl = block.filter((d) => d.name.startsWith('ssl_') || d.name === 'ssl');
    const names = new Set(serverSsl.map((d) => d.name));
    const sslDirs = [...httpSsl.filter((d) => !names.has(d.name)), ...serverSsl];
    const ssl = sslDirs.map((d) => ({
      name: d.name,
      args: SSL_FILE_DIRECTIVES.has(d.name) ? d.args.map((a) => (a.includes('$') || a.startsWith('data:') || a.startsWith('engine:') ? a : abs(a))) : d.args,
      d,
    }));
    for (const s of ssl) {
      items.push({ kind: serverSsl.includes(s.d) ? 'mapped' : 'inherited', directive: s.name, text: `${s.args.join(' ')} → nginx front end${s.d.name === 'ssl_client_certificate' ? ' and `trustAnchors`' : ''}`, where: at(s.d), scope });
    }
    const listen = block.filter((d) => d.name === 'listen').map((d) => d.args);
    for (const d of block.filter((x) => x.name === 'listen' || x.name === 'server_name')) {
      items.push({ kind: 'mapped', directive: d.name, text: `${d.args.join(' ')} → nginx front end`, where: at(d), scope });
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
    const clientCerts = verifyClient !== 'off';
    const serverName = block.find((d) => d.name === 'server_name')?.args;
    const anyPop = found.some((f) => f.est.get('est_pop')?.d.args[0] === 'on');
    const mode: FrontServer['mode'] = anyPop ? 'stream' : 'proxy';
    const server: FrontServer = { index: servers.length + 1, where: at(sd), listen, ssl: ssl.map(({ name, args }) => ({ name, args })), verifyClient, mode, backendPort: nextPort(), endpoints: [] };
    if (serverName) server.serverName = serverName;
    if (clientCertificate) server.clientCertificate = clientCertificate;

    if (mode === 'stream') {
      const pops = found.filter((f) => f.est.get('est_pop')?.d.args[0] === 'on').map((f) => f.info.path).join(', ');
      items.push({
        kind: 'mapped', directive: 'est_pop', scope,
        text: `on in ${pops}: nginx cannot pass tls-unique, so this server's TLS ports become nginx \`stream\` TCP pass-through to the app's own HTTPS server`,
      });
      const cert = last('ssl_certificate');
      const key = last('ssl_certificate_key');
      if (!cert || !key) {
        items.push({ kind: 'error', directive: 'est_pop', text: 'est_pop on needs ssl_certificate and ssl_certificate_key in the server for the app\'s own TLS server', where: at(sd), action: 'add them, or put HAProxy in front (see README)', scope });
      } else {
        const certs = ssl.filter((s) => s.name === 'ssl_certificate');
        if (certs.length > 1) items.push({ kind: 'unmapped', directive: 'ssl_certificate', text: 'several server certificates: the app\'s TLS server uses the last one', where: at(cert.d), action: 'pass the others to https.createServer yourself (SNI/multiple key types)', scope });
        const protos = (last('ssl_protocols')?.args ?? []).filter((p) => /^TLSv1(\.[0-3])?$/.test(p));
        const order = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
        let minVersion = 'TLSv1.2';
        let maxVersion: string | undefined;
        if (protos.length) {
          const idx = protos.map((p) => order.indexOf(p)).sort();
          if (idx[0]! < 2) items.push({ kind: 'unmapped', directive: 'ssl_protocols', text: `${protos.join(' ')}: the app's TLS server accepts TLSv1.2 and later only`, where: at(last('ssl_protocols')!.d), action: 'nothing (TLS 1.0/1.1 are obsolete)', scope });
          minVersion = order[Math.max(2, idx[0]!)]!;
          maxVersion = order[Math.max(2, idx[idx.length - 1]!)]!;
        }
        server.tls = {
          cert: cert.args[0]!,
          key: key.args[0]!,
          requestCert: clientCerts,
          rejectUnauthorized: verifyClient === 'on',
          minVersion,
        };
        if (maxVersion) server.tls.maxVersion = maxVersion;
        if (clientCertificate) server.tls.ca = clientCertificate;
        const ciphers = last('ssl_ciphers');
        if (ciphers) server.tls.ciphers = ciphers.args[0]!;
        const prefer = last('ssl_prefer_server_ciphers');
        if (prefer) server.tls.honorCipherOrder = prefer.args[0] === 'on';
        const curve = last('ssl_ecdh_curve');
        if (curve) server.tls.ecdhCurve = curve.args[0]!;
        const carried = new Set(['ssl_certificate', 'ssl_certificate_key', 'ssl_client_certificate', 'ssl_verify_client', 'ssl_protocols', 'ssl_ciphers', 'ssl_prefer_server_ciphers', 'ssl_ecdh_curve', 'ssl', 'ssl_session_cache', 'ssl_session_timeout']);
        for (const s of ssl) {
          if (!carried.has(s.name)) items.push({ kind: 'unmapped', directive: s.name, text: `${s.args.join(' ')}: not applied by the app's own TLS server`, where: at(s.d), action: 'set the matching https.createServer option in the generated app if you need it', scope });
        }
        if (verifyClient === 'on') items.push({ kind: 'unmapped', directive: 'ssl_verify_client', text: 'on: the app\'s TLS server refuses the handshake without a trusted client certificate (nginx answered HTTP 400)', where: at(last('ssl_verify_client')!.d), action: 'nothing, unless clients depend on the 400 page', scope });
      }
      const plain = listen.filter((l) => !l.includes('ssl'));
      if (plain.length && !ssl.some((s) => s.name === 'ssl' && s.args[0] === 'on')) {
        items.push({ kind: 'unmapped', directive: 'listen', text: `${plain.map((l) => l.join(' ')).join(', ')}: plain HTTP cannot carry PoP; not carried over`, where: at(sd), action: 'clients must use the TLS port', scope });
      }
      items.push({ kind: 'unmapped', directive: 'real client address', text: 'behind stream pass-through the app sees nginx\'s address, not the client\'s', scope, action: 'use HAProxy in front if you need client addresses in the issuance log' });
    }

    const others = locations.filter((l) => !found.some((f) => f.info === l));
    const authTargets = new Set<LocationInfo>();

    // Longest path first, like nginx's longest-prefix match: est() answers 404 for paths it does not know.
    found.sort((a, b) => b.info.path.length - a.info.path.length);
    for (const f of found) {
      const { info, est } = f;
      const escope = `location ${info.modifier ? info.modifier + ' ' : ''}${info.path} (${loc(at(info.d))})`;
      if (info.modifier !== '' && info.modifier !== '=' && info.modifier !== '^~') {
        items.push({ kind: 'error', directive: 'est', text: `est on in a ${info.modifier === '@' ? 'named' : 'regex'} location cannot become a mount path`, where: at(info.d), action: 'use a prefix location (location /.well-known/est/<label>)', scope: escope });
        continue;
      }
      const endpoint: EstEndpoint = {
        path: info.path.length > 1 ? info.path.replace(/\/+$/, '') : info.path,
        modifier: info.modifier as EstEndpoint['modifier'],
        where: at(info.d),
        options: [],
        traits: { pop: false, authRequest: false, csrAttrs: false, clientCerts, directTls: mode === 'stream' },
        changes: [],
      };
      items.push({ kind: 'mapped', directive: 'est', text: `on → app.use('${endpoint.path}', est({...}))`, where: at(est.get('est')!.d), scope: escope });
      const record = (name: string, option: string, value: string | number | boolean, shown?: string) => {
        const e = est.get(name)!;
        const where = at(e.d);
        const from = e.from ? ` from location ${e.from.path}` : '';
        items.push({ kind: e.from ? 'inherited' : 'mapped', directive: name, text: `${e.d.args[0]}${from} → ${option}: ${shown ?? JSON.stringify(value)}`, where, scope: escope });
        endpoint.options.push({ key: option, value, comment: `${name} (${loc(where)}${e.from ? `, inherited from location ${e.from.path}` : ''})` });
      };
      const pathOf = (name: string) => {
        const v = est.get(name)!.d.args[0]!;
        if (v.includes('$')) {
          items.push({ kind: 'error', directive: name, text: `${v}: variables cannot be converted`, where: at(est.get(name)!.d), action: 'write the file path', scope: escope });
        }
        return abs(v);
      };
      for (const spec of EST_DIRECTIVES) {
        if (!spec.option) continue;
        const name = spec.directive;
        if (!est.has(name)) {
          if (name === 'est_ca_serial_number') {
            if (est.has('est_ca_root_certificate')) {
              const p = moduleSerialPath(pathOf('est_ca_root_certificate'));
              items.push({ kind: 'default', directive: name, text: `not set → caSerialNumber: ${JSON.stringify(p)} (derived from est_ca_root_certificate, like the module)`, scope: escope });
              endpoint.options.push({ key: 'caSerialNumber', value: p, comment: 'est_ca_serial_number default: derived from est_ca_root_certificate, like the module' });
            }
          } else if (name === 'est_ca_root_certificate' || name === 'est_ca_private_key') {
            items.push({ kind: 'error', directive: name, text: 'not set: the endpoint cannot issue certificates', where: endpoint.where, action: `add ${name} to the location`, scope: escope });
          } else {
            items.push({ kind: 'default', directive: name, text: `not set → ${spec.option} default (${spec.default})`, scope: escope });
          }
          continue;
        }
        const raw = est.get(name)!.d.args[0]!;
        switch (spec.value) {
          case 'path':
            record(name, spec.option, pathOf(name));
            if (name === 'est_csr_attrs') endpoint.traits.csrAttrs = true;
            break;
          case 'flag':
            if (raw === 'on') record(name, spec.option, true);
            else items.push({ kind: 'mapped', directive: name, text: `off → ${spec.option} default (false)`, where: at(est.get(name)!.d), scope: escope });
            if (name === 'est_pop') endpoint.traits.pop = raw === 'on';
            break;
          case 'days':
            record(name, spec.option, Number(raw));
            break;
          case 'uri': {
            const resolved = resolveAuth(raw, est.get(name)!.d, escope);
            if (resolved) {
              record(name, spec.option, resolved.url, `${JSON.stringify(resolved.url)} (via location ${resolved.location ? resolved.location.path : '--auth-url'})`);
              endpoint.traits.authRequest = true;
              if (resolved.timeoutMs !== undefined) {
                endpoint.options.push({ key: 'authRequestTimeout', value: resolved.timeoutMs, comment: `proxy_read_timeout of the auth location` });
              }
            }
            break;
          }
        }
      }
      if (clientCerts) {
        if (clientCertificate) {
          const d = last('ssl_client_certificate')!.d;
          endpoint.options.push({ key: 'trustAnchors', value: clientCertificate, comment: `ssl_client_certificate (${loc(at(d))}): the app verifies client certificates itself` });
        } else {
          items.push({ kind: 'default', directive: 'ssl_client_certificate', text: `not set (ssl_verify_client ${verifyClient}) → trustAnchors default: the CA chain`, scope: escope });
        }
        if (mode === 'proxy') {
          endpoint.options.push({ key: 'trustProxy', value: 'loopback', comment: 'only the nginx front end (127.0.0.1) may pass client-certificate headers' });
          endpoint.options.push({ key: 'proxyHeaders', value: 'nginx', comment: 'X-SSL-Client-Cert ($ssl_client_escaped_cert), X-SSL-Client-Verify' });
        }
      } else {
        items.push({ kind: 'default', directive: 'ssl_verify_client', text: 'off → no client certificates: enrollment needs est_auth_request', scope: escope });
      }
      if (endpoint.traits.pop && mode === 'stream') {
        endpoint.options.push({ key: 'popAcceptTls13Finished', value: true, comment: 'TLS 1.3: also accept the Finished-based value nginx-http-est compared' });
      }
      endpoint.changes = behaviourChangesFor(endpoint.traits);
      server.endpoints.push(endpoint);
    }
    for (const o of others) {
      if (authTargets.has(o)) continue;
      // Nested locations inside an EST location are covered by the mount; others are the user's own.
      const inside = found.some((f) => o.path.startsWith(f.info.path) && f.info.modifier !== '=');
      items.push({
        kind: 'unmapped', directive: 'location', where: at(o.d), scope,
        text: inside
          ? `${o.path}: nested in an EST location without est on (nginx served 404 there); the app's mount covers it and answers 404 for unknown operations`
          : `${o.modifier ? o.modifier + ' ' : ''}${o.path}: not an EST location; not carried over${mode === 'stream' ? ' (this server\'s TLS port now passes straight to the app)' : ''}`,
        action: inside ? 'nothing' : mode === 'stream' ? 'serve it from another server/port, or put HAProxy in front (see README)' : 'keep it in your existing nginx server block',
      });
    }
    return server;

    function resolveAuth(uri: string, d: NginxDirective, escope: string): { url: string; location?: LocationInfo; timeoutMs?: number } | undefined {
      const override = options.authUrls?.[uri];
      if (override) return { url: override };
      if (/^https?:\/\//.test(uri)) return { url: uri };
      const fail = (text: string, action = `pass --auth-url ${uri}=http://host:port/path`) => {
        items.push({ kind: 'error', directive: 'est_auth_request', text: `${uri}: ${text}`, where: at(d), action, scope: escope });
        return undefined;
      };
      if (uri.includes('$')) return fail('variables cannot be converted');
      const q = uri.indexOf('?');
      const path = q < 0 ? uri : uri.slice(0, q);
      const query = q < 0 ? '' : uri.slice(q);
      const exact = locations.find((l) => l.modifier === '=' && l.path === path);
      let target = exact;
      if (!target) {
        const prefixes = locations.filter((l) => (l.modifier === '' || l.modifier === '^~') && path.startsWith(l.path)).sort((a, b) => b.path.length - a.path.length);
        const best = prefixes[0];
        if (best && best.modifier === '^~') target = best;
        else {
          const regex = locations.find((l) => {
            if (l.modifier !== '~' && l.modifier !== '~*') return false;
            try {
              return new RegExp(l.path, l.modifier === '~*' ? 'i' : '').test(path);
            } catch {
              return false;
            }
          });
          target = regex ?? best;
        }
      }
      if (!target) return fail('no location in this server matches it');
      authTargets.add(target);
      const block = target.d.block!;
      const pp = block.find((x) => x.name === 'proxy_pass');
      if (!pp || !pp.args[0]) {
        return fail(`location ${target.path} (${loc(at(target.d))}) has no proxy_pass: there is no backend URL to call`, 'run the check as an HTTP service and pass --auth-url');
      }
      const raw = pp.args[0];
      if (raw.includes('$')) return fail(`proxy_pass ${raw} uses variables`);
      const m = /^(https?):\/\/([^/]+)(\/.*)?$/.exec(raw);
      if (!m) return fail(`proxy_pass ${raw} is not an http(s) URL`);
      let host = m[2]!;
      const up = upstreams.get(host);
      if (up) {
        const members = up.block!.filter((x) => x.name === 'server');
        const first = members[0]?.args[0];
        if (!first || first.startsWith('unix:')) return fail(`upstream ${host} has no TCP server`);
        if (members.length > 1) {
          items.push({ kind: 'unmapped', directive: 'upstream', text: `${host} has ${members.length} servers: the app calls the first, ${first}`, where: at(up), action: 'put a load balancer in front of the auth backends if you need more than one', scope: escope });
        }
        host = first;
      } else if (host.startsWith('unix:')) return fail('proxy_pass to a unix socket cannot be called by URL');
      let url: string;
      if (m[3] !== undefined) {
        // proxy_pass with a URI: the matched location prefix is replaced by it.
        url = `${m[1]}://${host}${m[3]}${target.modifier === '=' ? '' : path.slice(target.path.length)}${query}`;
      } else url = `${m[1]}://${host}${uri}`;
      items.push({ kind: 'mapped', directive: 'location', text: `${target.modifier ? target.modifier + ' ' : ''}${target.path} (proxy_pass ${raw}) → authRequest ${url}; the location is not needed in nginx any more`, where: at(target.d), scope: escope });
      let timeoutMs: number | undefined;
      for (const x of block) {
        if (AUTH_IMPLIED.has(x.name)) continue;
        if (x.name === 'proxy_set_header' && AUTH_IMPLIED_HEADERS.has((x.args[0] ?? '').toLowerCase())) continue;
        if (x.name === 'proxy_read_timeout' && nginxTimeMs(x.args[0] ?? '') !== undefined) {
          timeoutMs = nginxTimeMs(x.args[0]!);
          items.push({ kind: 'mapped', directive: 'proxy_read_timeout', text: `${x.args[0]} → authRequestTimeout: ${timeoutMs}`, where: at(x), scope: escope });
          continue;
        }
        items.push({
          kind: 'unmapped', directive: x.name, text: `${x.args.join(' ')} (in the auth location): not carried over`, where: at(x), scope: escope,
          action: 'the app sends the client\'s headers plus X-Original-URI and X-Original-Method to the backend; adapt the backend if it relied on this',
        });
      }
      return timeoutMs === undefined ? { url, location: target } : { url, location: target, timeoutMs };
    }
  }

  if (servers.length === 0) {
    items.push({ kind: 'error', directive: 'est', text: 'no location with `est on` found', where: { file: config.file, line: 1 }, action: 'point est-migrate at the nginx.conf that loads nginx-http-est', scope: 'main' });
  }
  // Stream and proxy servers cannot share a port.
  const portOf = (l: string[]) => l[0]!.replace(/^.*:/, '');
  const streamPorts = new Set(servers.filter((s) => s.mode === 'stream').flatMap((s) => s.listen.filter((l) => l.includes('ssl') || s.ssl.some((x) => x.name === 'ssl' && x.args[0] === 'on')).map(portOf)));
  for (const s of servers.filter((x) => x.mode === 'proxy')) {
    for (const l of s.listen) {
      if (streamPorts.has(portOf(l))) {
        items.push({ kind: 'error', directive: 'listen', text: `${l.join(' ')}: shared with a server that has est_pop on, which needs TCP pass-through of the whole port`, where: s.where, action: 'give the est_pop server its own port, or put HAProxy in front (see README)', scope: `server at ${loc(s.where)}` });
      }
    }
  }
  return { configFile: config.file, prefix: config.prefix, files: config.files, servers, items, loadModules, ok: !items.some((i) => i.kind === 'error') };
}
