// est-migrate as a library: parse an nginx config, plan the conversion, render and write the files.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseNginxConfig } from './nginx-config.js';
import { analyze, type AnalyzeOptions, type MigrationPlan } from './analyze.js';
import { generateFiles, type GeneratedFiles, type GenerateOptions } from './generate.js';
import { renderReport } from './report.js';
import { unknownEstDirectives } from './unknown-directives.js';

export { parseNginxConfig, tokenize, expandGlob, NginxConfigError, type NginxConfig, type NginxDirective } from './nginx-config.js';
export { analyze, moduleSerialPath, type MigrationPlan, type ReportItem, type FrontServer, type EstEndpoint } from './analyze.js';
export { generateFiles, type GeneratedFiles } from './generate.js';
export { renderReport } from './report.js';
export { EST_DIRECTIVES, TERMINATOR_SETTINGS, renderDirectiveTable, renderTerminatorTable } from '../middleware/directives.js';
export { BEHAVIOUR_CHANGES, renderBehaviourChanges } from './behaviour-changes.js';
export { renderReadmeSection } from './readme.js';

export interface MigrateOptions extends AnalyzeOptions, Partial<GenerateOptions> {
  /** nginx conf prefix for relative `include` and file paths. @default the config file's directory */
  prefix?: string;
  /** Ignore (report as NOT MAPPED) `est_*` directives nginx-http-est does not have, instead of stopping. @default false */
  allowUnknown?: boolean;
}

export interface MigrateResult {
  plan: MigrationPlan;
  report: string;
  /** Present only when the plan has no errors. */
  files?: GeneratedFiles;
}

/** Parses and converts `configPath`; throws NginxConfigError on syntax errors. Writes nothing. */
export function migrate(configPath: string, options: MigrateOptions = {}): MigrateResult {
  const config = parseNginxConfig(configPath, options.prefix === undefined ? {} : { prefix: options.prefix });
  const plan = analyze(config, options);
  const unknown = unknownEstDirectives(config, options.allowUnknown ?? false);
  if (unknown.length) {
    plan.items.unshift(...unknown);
    if (unknown.some((i) => i.kind === 'error')) plan.ok = false;
  }
  const source = options.source ?? configPath;
  const report = renderReport(plan, source);
  if (!plan.ok) return { plan, report };
  return { plan, report, files: generateFiles(plan, { ...options, source }) };
}

/** Files under `outDir` that already exist (and would be overwritten). */
export function existingFiles(files: GeneratedFiles, outDir: string): string[] {
  return [...files.keys()].filter((f) => existsSync(join(outDir, f)));
}

/** Writes every file; refuses (before writing anything) when one exists and `force` is not set. */
export function writeFiles(files: GeneratedFiles, outDir: string, force = false): string[] {
  const clash = existingFiles(files, outDir);
  if (clash.length && !force) {
    throw Object.assign(new Error(`refusing to overwrite ${clash.map((f) => join(outDir, f)).join(', ')} (use --force)`), { code: 'ERR_EST_MIGRATE_EXISTS' });
  }
  const written: string[] = [];
  for (const [rel, content] of files) {
    const path = join(outDir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    written.push(path);
  }
  return written;
}
