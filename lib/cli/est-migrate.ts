// est-migrate: turns an nginx-http-est configuration into an Express app, an nginx front end and a report.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEBIAN_STREAM_MODULE } from '../migrate/generate.js';
import { existingFiles, migrate, writeFiles, type MigrateOptions, type MigrationPlan, type ReportItem } from '../migrate/index.js';
import { expressEstDependency } from '../migrate/self-dependency.js';
import { est } from '../middleware/est.js';
import type { EstOptions } from '../middleware/options.js';

export const USAGE = `Usage: est-migrate <nginx.conf> [-o <outdir>] [options]

Converts every nginx location with \`est on\` into app.use(<path>, est({...})) and writes:
  app.ts, app.js        the Express app (TypeScript and plain JS)
  nginx/nginx.conf      the TLS front end as before, proxying EST to the app
  package.json          to install and run it
  MIGRATION.md          the report: mapped, inherited, not mapped, behaviour changes

Options:
  -o, --out <dir>            output directory (default: ./est-app)
      --check                validate and print the report only; write nothing. Opens the
                             files the config names, like nginx -t: CA certificate and key
                             (and that they match), serial file, csrattrs, TLS files
      --allow-unknown        ignore est_* directives nginx-http-est does not have (reported
                             as NOT MAPPED) instead of stopping with file:line
      --force                overwrite existing files in the output directory
  -p, --prefix <dir>         nginx conf prefix for relative paths (default: the config's directory)
      --backend-port <n,...> ports of the app, one per converted server (default: 8080, 8081, ...)
      --auth-url <uri>=<url> backend URL for an est_auth_request URI that cannot be resolved
      --package <specifier>  module the app imports est() from (default: express-est)
      --stream-module <path> nginx stream module to load for est_pop pass-through
                             (default: ${DEBIAN_STREAM_MODULE} when it exists)
  -q, --quiet                print only errors
  -h, --help                 this help

Warnings (NOT MAPPED items) go to stderr as well as into the report.

Exit codes: 0 converted (or --check passed); 1 cannot convert (report lists why: an unknown
est_* directive, a file --check cannot use, ...) or would overwrite files; 2 usage error,
unreadable file or nginx syntax error (file:line).`;

export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
}

const OPTIONS = {
  out: { type: 'string', short: 'o' },
  check: { type: 'boolean' },
  force: { type: 'boolean' },
  prefix: { type: 'string', short: 'p' },
  'backend-port': { type: 'string' },
  'auth-url': { type: 'string', multiple: true },
  package: { type: 'string' },
  'stream-module': { type: 'string' },
  'allow-unknown': { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** A usage error: exit code 2 with this message. */
class UsageError extends Error {}

/** migrate()'s options from the command line. */
function migrateOptions(configPath: string, v: Values): MigrateOptions {
  const options: MigrateOptions = { source: configPath };
  if (v.prefix) options.prefix = v.prefix;
  if (v.package) options.packageSpecifier = v.package;
  // The app depends on the express-est this runs from (a checkout is not on any registry).
  else options.dependency = expressEstDependency();
  if (v['allow-unknown']) options.allowUnknown = true;
  if (v['stream-module']) options.streamModule = v['stream-module'];
  else if (existsSync(DEBIAN_STREAM_MODULE)) options.streamModule = DEBIAN_STREAM_MODULE;
  if (v['backend-port']) {
    const ports = v['backend-port'].split(',').map((p) => Number(p.trim()));
    if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
      throw new UsageError(`est-migrate: --backend-port must be port numbers separated by commas (got ${v['backend-port']})\n`);
    }
    options.backendPorts = ports;
  }
  if (v['auth-url']) {
    options.authUrls = {};
    for (const pair of v['auth-url']) {
      const eq = pair.indexOf('=');
      if (eq <= 0 || !/^https?:\/\//.test(pair.slice(eq + 1))) throw new UsageError(`est-migrate: --auth-url must be <nginx uri>=<http(s) url> (got ${pair})\n`);
      options.authUrls[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return options;
}

/** Converts, then prints the report (--check) or writes the files; returns the exit code. */
function convert(configPath: string, v: Values, io: CliIO): number {
  let result;
  let options: MigrateOptions;
  try {
    options = migrateOptions(configPath, v);
    result = migrate(configPath, options);
  } catch (e) {
    io.err(e instanceof UsageError ? e.message : `est-migrate: ${(e as Error).message}\n`);
    return 2;
  }
  const { plan, report, files } = result;
  if (!plan.ok || !files) {
    io.err(report + '\n');
    for (const i of plan.items.filter((x) => x.kind === 'error')) io.err(`est-migrate: ${where(i)}${i.directive} ${i.text}\n`);
    return 1;
  }
  const warnings = plan.items.filter((i) => i.kind === 'unmapped');
  const outDir = resolve(v.out ?? 'est-app');
  if (v.check) return check(configPath, plan, report, warnings, v, io);
  const clash = existingFiles(files, outDir);
  if (clash.length && !v.force) {
    io.err(`est-migrate: refusing to overwrite ${clash.join(', ')} in ${outDir} (use --force); nothing written\n`);
    return 1;
  }
  const written = writeFiles(files, outDir, true);
  const dependency = options.dependency;
  if (dependency?.packFrom) execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', outDir], { cwd: dependency.packFrom, stdio: 'ignore' });
  warn(warnings, io);
  if (!v.quiet) {
    io.out(report + '\n');
    io.out(`Wrote ${written.length} files to ${outDir}:\n${[...files.keys()].map((f) => `  ${f}`).join('\n')}\n`);
    io.out(`Next: cd ${outDir} && npm install && npm start; then nginx -t -p nginx -c nginx.conf\n`);
  }
  return 0;
}

function where(i: ReportItem): string {
  return i.where ? `${i.where.file}:${i.where.line}: ` : '';
}

/** NOT MAPPED items, one line each on stderr (they are in the report too). */
function warn(items: ReportItem[], io: CliIO): void {
  for (const i of items) io.err(`est-migrate: warning: ${where(i)}\`${i.directive}\` ${i.text}${i.action ? ` (${i.action})` : ''}\n`);
}

/** --check: the report, the warnings, and the files opened like `nginx -t`; 1 when one is unusable. */
function check(configPath: string, plan: MigrationPlan, report: string, warnings: ReportItem[], v: Values, io: CliIO): number {
  if (!v.quiet) io.out(report + '\n');
  warn(warnings, io);
  const problems = checkFiles(plan);
  for (const p of problems) io.err(`est-migrate: check failed: ${p}\n`);
  if (problems.length) return 1;
  if (!v.quiet) io.out(`est-migrate: the files named by ${configPath} are usable (CA certificate and key match, serial file, csrattrs, TLS files)\n`);
  return 0;
}

/**
 * What `nginx -t` would find about the files: every endpoint's options go through est() itself
 * (files read, CA certificate and key parsed and matched, serial file readable, csrattrs parsed),
 * and the TLS files of an app terminating TLS must be readable. One line per problem.
 */
function checkFiles(plan: MigrationPlan): string[] {
  const problems: string[] = [];
  for (const s of plan.servers) {
    for (const e of s.endpoints) {
      const options = Object.fromEntries(e.options.map((o) => [o.key, o.value])) as EstOptions;
      try {
        void est(options).close();
      } catch (err) {
        problems.push(`location ${e.path} (${e.where.file}:${e.where.line}): ${(err as Error).message}`);
      }
    }
    for (const [name, path] of [['ssl_certificate', s.tls?.cert], ['ssl_certificate_key', s.tls?.key], ['ssl_client_certificate', s.tls?.ca]] as const) {
      if (!path) continue;
      try {
        accessSync(path, constants.R_OK);
      } catch (err) {
        problems.push(`server at ${s.where.file}:${s.where.line}: ${name} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  }
  return problems;
}

/** Runs the CLI; returns the exit code. */
export function main(argv: string[], io: CliIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): number {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (e) {
    io.err(`est-migrate: ${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    io.out(USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) {
    io.err(`est-migrate: expected one nginx configuration file\n\n${USAGE}\n`);
    return 2;
  }
  return convert(positionals[0]!, v, io);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = main(process.argv.slice(2));
}
