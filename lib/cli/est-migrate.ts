// est-migrate: turns an nginx-http-est configuration into an Express app, an nginx front end and a report.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEBIAN_STREAM_MODULE } from '../migrate/generate.js';
import { existingFiles, migrate, writeFiles, type MigrateOptions } from '../migrate/index.js';

export const USAGE = `Usage: est-migrate <nginx.conf> [-o <outdir>] [options]

Converts every nginx location with \`est on\` into app.use(<path>, est({...})) and writes:
  app.ts, app.js        the Express app (TypeScript and plain JS)
  nginx/nginx.conf      the TLS front end as before, proxying EST to the app
  package.json          to install and run it
  MIGRATION.md          the report: mapped, inherited, not mapped, behaviour changes

Options:
  -o, --out <dir>            output directory (default: ./est-app)
      --check                validate and print the report only; write nothing
      --force                overwrite existing files in the output directory
  -p, --prefix <dir>         nginx conf prefix for relative paths (default: the config's directory)
      --backend-port <n,...> ports of the app, one per converted server (default: 8080, 8081, ...)
      --auth-url <uri>=<url> backend URL for an est_auth_request URI that cannot be resolved
      --package <specifier>  module the app imports est() from (default: express-est)
      --stream-module <path> nginx stream module to load for est_pop pass-through
                             (default: ${DEBIAN_STREAM_MODULE} when it exists)
  -q, --quiet                print only errors
  -h, --help                 this help

Exit codes: 0 converted (or --check passed); 1 cannot convert (report lists why) or would
overwrite files; 2 usage error, unreadable file or nginx syntax error (file:line).`;

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
  try {
    result = migrate(configPath, migrateOptions(configPath, v));
  } catch (e) {
    io.err(e instanceof UsageError ? e.message : `est-migrate: ${(e as Error).message}\n`);
    return 2;
  }
  const { plan, report, files } = result;
  if (!plan.ok || !files) {
    io.err(report + '\n');
    return 1;
  }
  const outDir = resolve(v.out ?? 'est-app');
  if (v.check) {
    if (!v.quiet) io.out(report + '\n');
    return 0;
  }
  const clash = existingFiles(files, outDir);
  if (clash.length && !v.force) {
    io.err(`est-migrate: refusing to overwrite ${clash.join(', ')} in ${outDir} (use --force); nothing written\n`);
    return 1;
  }
  const written = writeFiles(files, outDir, true);
  if (!v.quiet) {
    io.out(report + '\n');
    io.out(`Wrote ${written.length} files to ${outDir}:\n${[...files.keys()].map((f) => `  ${f}`).join('\n')}\n`);
    io.out(`Next: cd ${outDir} && npm install && npm start; then nginx -t -p nginx -c nginx.conf\n`);
  }
  return 0;
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
