// The nginx-http-est directive table: the single source for est(), est-migrate and the README's options table.
import { basename, dirname, extname, join } from 'node:path';

/** How a directive's single argument is read. */
export type DirectiveValue = 'flag' | 'path' | 'uri' | 'days';

/** One nginx-http-est directive and the `est()` option it becomes. */
export interface EstDirective {
  directive: string;
  syntax: string;
  /** The module's default, as documented for users. */
  default: string;
  /** The `est()` option, or undefined for `est` itself (which becomes the mount path). */
  option?: string;
  value: DirectiveValue;
  /** What the option does and how the migration maps it (one line, markdown). */
  notes: string;
}

/** The eight est_* directives plus `est`, in the module's documentation order. */
export const EST_DIRECTIVES: readonly EstDirective[] = Object.freeze([
  {
    directive: 'est',
    syntax: '`est on | off`',
    default: 'off',
    value: 'flag',
    notes: 'Each `location` with `est on` becomes one `app.use(<location path>, est({...}))`; not inherited by nested locations',
  },
  {
    directive: 'est_auth_request',
    syntax: '`est_auth_request <uri>`',
    default: 'none',
    option: 'authRequest',
    value: 'uri',
    notes: 'An absolute `http(s)://` URL: est-migrate resolves the nginx URI through the `location` that `proxy_pass`es it. 2xx allows, 401/403 are passed back, anything else (timeouts too) is 500',
  },
  {
    directive: 'est_csr_attrs',
    syntax: '`est_csr_attrs <file>`',
    default: 'none',
    option: 'csrAttrs',
    value: 'path',
    notes: 'DER CsrAttrs file path or content; served verbatim at `/csrattrs` (204 when unset) and checked as real CSR attributes',
  },
  {
    directive: 'est_pop',
    syntax: '`est_pop on | off`',
    default: 'off',
    option: 'pop',
    value: 'flag',
    notes: '`true`/`false`. Needs the TLS channel binding: a Node TLS socket (nginx `stream` pass-through) or HAProxy in front; nginx cannot export tls-unique',
  },
  {
    directive: 'est_root_certificate',
    syntax: '`est_root_certificate <file>`',
    default: 'none',
    option: 'rootCertificate',
    value: 'path',
    notes: 'PEM path or content; the certificates `/cacerts` returns. Defaults to `caRootCertificate`',
  },
  {
    directive: 'est_ca_root_certificate',
    syntax: '`est_ca_root_certificate <file>`',
    default: 'none',
    option: 'caRootCertificate',
    value: 'path',
    notes: 'PEM path or content of the signing CA; read once at start-up, used in place',
  },
  {
    directive: 'est_ca_private_key',
    syntax: '`est_ca_private_key <file>`',
    default: 'none',
    option: 'caPrivateKey',
    value: 'path',
    notes: 'Unencrypted PEM/DER path or content, or a `KeyObject`; read once at start-up, used in place',
  },
  {
    directive: 'est_ca_serial_number',
    syntax: '`est_ca_serial_number <file>`',
    default: 'CA certificate path with `.srl`',
    option: 'caSerialNumber',
    value: 'path',
    notes: 'Same file format (last issued serial, uppercase hex); the module\'s file continues without a gap, now locked across processes',
  },
  {
    directive: 'est_ca_validity_days',
    syntax: '`est_ca_validity_days <n>`',
    default: '30',
    option: 'caValidityDays',
    value: 'days',
    notes: 'Positive integer; notAfter is also clamped to the CA certificate\'s',
  },
]);

/** nginx TLS settings the migration carries over, and what each implies for the app. */
export interface TerminatorSetting {
  directive: string;
  becomes: string;
}

export const TERMINATOR_SETTINGS: readonly TerminatorSetting[] = Object.freeze([
  { directive: '`listen`, `server_name`', becomes: 'kept in the generated nginx front end; the app listens on 127.0.0.1' },
  { directive: '`ssl_certificate`, `ssl_certificate_key`, other `ssl_*`', becomes: 'kept in the generated nginx front end (or, with `est_pop on`, the app\'s own HTTPS server)' },
  { directive: '`ssl_client_certificate`', becomes: '`trustAnchors`: the app verifies the client certificate chain itself' },
  { directive: '`ssl_verify_client`', becomes: '`off`: no client certificates (headers cleared, no `trustProxy`); `on`/`optional`/`optional_no_ca`: nginx passes `$ssl_client_escaped_cert`, the app uses `trustProxy: \'loopback\'`, `proxyHeaders: \'nginx\'`' },
  { directive: '`location = <uri> { proxy_pass ...; }` named by `est_auth_request`', becomes: 'folded into `authRequest`; not needed in nginx any more' },
]);

/** Option name → the nginx directive it mirrors (for messages), from the directive table. */
export const DIRECTIVE_OF: Readonly<Record<string, string>> = Object.freeze({
  ...Object.fromEntries(EST_DIRECTIVES.filter((d) => d.option).map((d) => [d.option!, d.directive])),
  trustAnchors: 'ssl_client_certificate',
});

/** est_ca_serial_number's default: next to the CA certificate, extension replaced by `.srl`. */
export function defaultSerialPath(caCertPath: string): string {
  return join(dirname(caCertPath), basename(caCertPath, extname(caCertPath)) + '.srl');
}

export function directiveByName(name: string): EstDirective | undefined {
  return EST_DIRECTIVES.find((d) => d.directive === name);
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The README's "directive → option" table, rendered from EST_DIRECTIVES (a spec checks they match). */
export function renderDirectiveTable(): string {
  const rows = EST_DIRECTIVES.map(
    (d) => `| \`${d.directive}\` | ${d.option ? `\`${d.option}\`` : 'mount path'} | ${cell(d.default)} | ${cell(d.notes)} |`,
  );
  return ['| nginx directive | `est()` option | Default | Notes |', '|---|---|---|---|', ...rows].join('\n') + '\n';
}

/** The README's table of terminator settings, rendered from TERMINATOR_SETTINGS. */
export function renderTerminatorTable(): string {
  const rows = TERMINATOR_SETTINGS.map((s) => `| ${s.directive} | ${cell(s.becomes)} |`);
  return ['| nginx setting | After migration |', '|---|---|', ...rows].join('\n') + '\n';
}
