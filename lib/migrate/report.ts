// The migration report: every directive mapped, inherited, defaulted or not mapped, and the behaviour changes.
import type { FrontServer, MigrationPlan, ReportItem } from './analyze.js';
import { sentence, type BehaviourChange } from './behaviour-changes.js';

const LABEL: Record<ReportItem['kind'], string> = {
  mapped: 'mapped',
  inherited: 'inherited',
  default: 'default',
  unmapped: 'NOT MAPPED',
  error: 'ERROR',
};

function line(i: ReportItem): string {
  const where = i.where ? ` (${i.where.file}:${i.where.line})` : '';
  const action = i.action ? `\n    → what to do: ${i.action}` : '';
  return `- ${LABEL[i.kind]}: \`${i.directive}\` ${i.text}${where}${action}`;
}

const TLS_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/**
 * Stream pass-through: the app's TLS server now negotiates the version. Which versions it offers,
 * and how that differs from what nginx offered (its `ssl_protocols`, or nginx's default).
 */
function tlsVersions(s: FrontServer): string {
  if (!s.tls) return '';
  const lo = TLS_ORDER.indexOf(s.tls.minVersion);
  const hi = s.tls.maxVersion ? TLS_ORDER.indexOf(s.tls.maxVersion) : TLS_ORDER.length - 1;
  const app = TLS_ORDER.slice(lo, hi + 1);
  const protocols = s.ssl.find((d) => d.name === 'ssl_protocols')?.args.filter((p) => TLS_ORDER.includes(p));
  const nginx = protocols?.length
    ? `nginx offered ${protocols.join(' ')} (ssl_protocols)`
    : "nginx offered its default (TLSv1 TLSv1.1 TLSv1.2 before nginx 1.23.4, TLSv1.2 TLSv1.3 since)";
  const dropped = (protocols?.length ? protocols : ['TLSv1', 'TLSv1.1']).filter((p) => !app.includes(p));
  const added = protocols?.length ? app.filter((p) => !protocols.includes(p)) : [];
  const diff = [
    dropped.length ? `clients limited to ${dropped.join(' or ')} can no longer connect (Node refuses TLS below 1.2, RFC 8996)` : '',
    added.length ? `${added.join(' and ')} ${added.length === 1 ? 'is' : 'are'} now offered too` : '',
  ].filter(Boolean);
  return ` TLS versions: the app offers ${app.join(' ')}; ${nginx}${diff.length ? `: ${diff.join('; ')}` : ''}.`;
}

/** Renders the report as markdown (also readable as plain text on a terminal). */
export function renderReport(plan: MigrationPlan, source: string): string {
  const out: string[] = [];
  out.push(`# est-migrate report for ${source}`, '');
  const errors = plan.items.filter((i) => i.kind === 'error');
  const unmapped = plan.items.filter((i) => i.kind === 'unmapped');
  const endpoints = plan.servers.flatMap((s) => s.endpoints);
  out.push(
    plan.ok
      ? `Converted ${endpoints.length} EST endpoint${endpoints.length === 1 ? '' : 's'} in ${plan.servers.length} server${plan.servers.length === 1 ? '' : 's'}; ${unmapped.length} item${unmapped.length === 1 ? '' : 's'} not mapped (see below).`
      : `Cannot convert: ${errors.length} error${errors.length === 1 ? '' : 's'}. Nothing was written.`,
    '',
  );
  if (errors.length) {
    out.push('## Errors', '');
    for (const i of errors) out.push(line(i));
    out.push('');
  }
  const scopes = [...new Set(plan.items.map((i) => i.scope))];
  out.push('## Directives', '');
  for (const scope of scopes) {
    const list = plan.items.filter((i) => i.scope === scope && i.kind !== 'error');
    if (!list.length) continue;
    out.push(`### ${scope}`, '');
    for (const i of list) out.push(line(i));
    out.push('');
  }
  if (plan.servers.length) {
    out.push('## Front end', '');
    for (const s of plan.servers) {
      const listen = s.listen.map((l) => l.join(' ')).join(', ');
      out.push(
        s.mode === 'proxy'
          ? `- server at ${s.where.file}:${s.where.line} (listen ${listen}): nginx keeps terminating TLS and proxies ${s.endpoints.map((e) => e.path).join(', ')} to the app at http://127.0.0.1:${s.backendPort}${s.verifyClient !== 'off' ? ' with X-SSL-Client-Cert / X-SSL-Client-Verify' : ''}`
          : `- server at ${s.where.file}:${s.where.line} (listen ${listen}): est_pop needs the TLS channel binding, so nginx passes TCP (\`stream\`) to the app's own HTTPS server at 127.0.0.1:${s.backendPort}; or put HAProxy in front (README: "Migrating from nginx-http-est").${tlsVersions(s)}`,
      );
    }
    out.push('');
  }
  const changes = new Map<string, { change: BehaviourChange; title: string; paths: string[] }>();
  for (const e of endpoints) {
    for (const c of e.changes) {
      const entry = changes.get(c.id) ?? { change: c, title: c.title, paths: [] };
      entry.paths.push(e.path);
      changes.set(c.id, entry);
    }
  }
  if (changes.size) {
    out.push('## Behaviour that changes', '');
    for (const c of changes.values()) {
      const where = c.paths.length === endpoints.length ? '' : ` (${c.paths.join(', ')})`;
      out.push(`- **${c.title}**${where}: ${sentence(c.change)}`);
    }
    out.push('');
  }
  return out.join('\n');
}
