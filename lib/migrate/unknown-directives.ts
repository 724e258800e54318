// `est_*` directives the module does not have (typos, est_verify_client, est_http of older versions): nginx -t refuses them.
import type { ReportItem } from './plan.js';
import { EST_DIRECTIVES } from '../middleware/directives.js';
import type { NginxConfig, NginxDirective } from './nginx-config.js';

const KNOWN = new Set(EST_DIRECTIVES.map((d) => d.directive));

/**
 * Every `est` / `est_*` directive that nginx-http-est does not define, as report items: errors
 * (the conversion stops, as `nginx -t` would: `unknown directive`), or with `allowUnknown`
 * NOT MAPPED items saying they were ignored.
 */
export function unknownEstDirectives(config: NginxConfig, allowUnknown: boolean): ReportItem[] {
  const items: ReportItem[] = [];
  const walk = (list: readonly NginxDirective[]) => {
    for (const d of list) {
      if ((d.name === 'est' || d.name.startsWith('est_')) && !KNOWN.has(d.name)) {
        const where = { file: d.file, line: d.line };
        const known = [...KNOWN].filter((k) => k.startsWith('est_'));
        const near = known.find((k) => k.replace(/_/g, '') === d.name.replace(/_/g, '') || k.startsWith(d.name) || d.name.startsWith(k));
        const hint = near ? ` (did you mean \`${near}\`?)` : '';
        items.push(
          allowUnknown
            ? { kind: 'unmapped', directive: d.name, text: `unknown directive, ignored (--allow-unknown)${hint}`, where, action: 'remove it, or map it by hand', scope: 'unknown directives' }
            : { kind: 'error', directive: d.name, text: `unknown directive: nginx-http-est has no such directive, so nginx -t refuses this file${hint}`, where, action: `fix or remove it (nginx-http-est knows ${known.join(', ')}); --allow-unknown ignores it instead`, scope: 'unknown directives' },
        );
      }
      if (d.block) walk(d.block);
    }
  };
  walk(config.directives);
  return items;
}
