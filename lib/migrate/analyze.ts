// Reads a parsed nginx config into a migration plan: EST endpoints, their est() options, the TLS front ends, a report.
// The converters: server.ts (one server), front-end.ts (its TLS), location.ts (est_* → options), auth.ts (est_auth_request).
import { basename, isAbsolute, join } from 'node:path';
import { notHere } from './location.js';
import type { NginxConfig, NginxDirective } from './nginx-config.js';
import { at, loc, type AnalyzeContext, type AnalyzeOptions, type FrontServer, type MigrationPlan, type ReportItem } from './plan.js';
import { convertServer } from './server.js';

export type { AnalyzeOptions, EstEndpoint, FrontServer, MigrationPlan, OptionLine, ReportItem, VerifyClient, Where } from './plan.js';
export { moduleSerialPath } from './location.js';
export { nginxTimeMs } from './auth.js';

function context(config: NginxConfig, options: AnalyzeOptions, items: ReportItem[]): AnalyzeContext {
  // Collect upstreams first: proxy_pass may name one defined later.
  const upstreams = new Map<string, NginxDirective>();
  for (const top of config.directives) {
    if (top.name === 'http' && top.block) for (const d of top.block) if (d.name === 'upstream' && d.block && d.args[0]) upstreams.set(d.args[0], d);
  }
  const ports = [...(options.backendPorts ?? [])];
  let lastPort = 8079;
  return {
    options,
    items,
    upstreams,
    abs: (p) => (isAbsolute(p) ? p : join(config.prefix, p)),
    nextPort: () => {
      lastPort = ports.length ? ports.shift()! : lastPort + 1;
      return lastPort;
    },
  };
}

/** Builds the plan. Throws NginxConfigError for what nginx itself would refuse; conversion problems are report errors. */
export function analyze(config: NginxConfig, options: AnalyzeOptions = {}): MigrationPlan {
  const items: ReportItem[] = [];
  const servers: FrontServer[] = [];
  const loadModules: string[] = [];
  const ctx = context(config, options, items);
  for (const top of config.directives) {
    notHere(top);
    if (top.name === 'load_module') {
      const m = top.args[0] ?? '';
      if (/(^|_)est(_|\.)/i.test(basename(m))) {
        items.push({ kind: 'mapped', directive: 'load_module', text: `${m}: not needed any more (EST is served by the app)`, where: at(top), scope: 'main' });
      } else if (/stream/.test(basename(m))) loadModules.push(ctx.abs(m));
    }
    if (top.name === 'stream') {
      items.push({ kind: 'unmapped', directive: 'stream', text: 'existing stream {} block not carried over', where: at(top), action: 'keep it in your own nginx configuration', scope: 'main' });
    }
    if (top.name !== 'http' || !top.block) continue;
    const httpSsl = top.block.filter((d) => d.name.startsWith('ssl_') || d.name === 'ssl');
    for (const d of top.block) {
      notHere(d);
      if (d.name !== 'server' || !d.block) continue;
      const server = convertServer(ctx, d, httpSsl, servers.length + 1);
      if (server) servers.push(server);
    }
  }
  if (servers.length === 0) {
    items.push({ kind: 'error', directive: 'est', text: 'no location with `est on` found', where: { file: config.file, line: 1 }, action: 'point est-migrate at the nginx.conf that loads nginx-http-est', scope: 'main' });
  }
  reportPortConflicts(servers, items);
  return { configFile: config.file, prefix: config.prefix, files: config.files, servers, items, loadModules, ok: !items.some((i) => i.kind === 'error') };
}

/** Stream and proxy servers cannot share a port. */
function reportPortConflicts(servers: readonly FrontServer[], items: ReportItem[]): void {
  const portOf = (l: string[]) => l[0]!.replace(/^.*:/, '');
  const streamPorts = new Set(servers.filter((s) => s.mode === 'stream').flatMap((s) => s.listen.filter((l) => l.includes('ssl') || s.ssl.some((x) => x.name === 'ssl' && x.args[0] === 'on')).map(portOf)));
  for (const s of servers.filter((x) => x.mode === 'proxy')) {
    for (const l of s.listen) {
      if (streamPorts.has(portOf(l))) {
        items.push({ kind: 'error', directive: 'listen', text: `${l.join(' ')}: shared with a server that has est_pop on, which needs TCP pass-through of the whole port`, where: s.where, action: 'give the est_pop server its own port, or put HAProxy in front (see README)', scope: `server at ${loc(s.where)}` });
      }
    }
  }
}
