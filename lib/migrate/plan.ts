// The migration plan's shapes: what analyze() reads out of an nginx config, and what the converters share.
import type { BehaviourChange, EndpointTraits } from './behaviour-changes.js';
import type { NginxDirective } from './nginx-config.js';

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

/** What the converters share while one config is analyzed. */
export interface AnalyzeContext {
  readonly options: AnalyzeOptions;
  /** The report, in the order things were found. */
  readonly items: ReportItem[];
  /** `upstream` blocks of the http block, by name. */
  readonly upstreams: ReadonlyMap<string, NginxDirective>;
  /** A path made absolute against the conf prefix, like nginx does. */
  abs(path: string): string;
  /** The next backend port for the app. */
  nextPort(): number;
}

export function at(d: NginxDirective): Where {
  return { file: d.file, line: d.line };
}

export function loc(w: Where): string {
  return `${w.file}:${w.line}`;
}
