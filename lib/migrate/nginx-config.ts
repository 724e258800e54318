// nginx configuration parser: tokens, blocks and `include` (with globs), as `nginx -t` reads them.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** One directive: `name arg...;` or `name arg... { block }`, with where it was written. */
export interface NginxDirective {
  name: string;
  args: string[];
  /** Present for block directives (`http`, `server`, `location`, ...). */
  block?: NginxDirective[];
  file: string;
  line: number;
}

/** A configuration nginx itself would refuse; the message names `file:line` like `nginx -t`. */
export class NginxConfigError extends Error {
  readonly code = 'ERR_EST_MIGRATE_SYNTAX';
  readonly file: string;
  readonly line: number;

  constructor(message: string, file: string, line: number) {
    super(`${message} in ${file}:${line}`);
    this.name = 'NginxConfigError';
    this.file = file;
    this.line = line;
  }
}

export interface ParseOptions {
  /** Directory that relative `include` paths resolve against (nginx's conf prefix). @default the config file's directory */
  prefix?: string;
  /** Reads a file; tests may substitute. @default fs.readFileSync(path, 'utf8') */
  readFile?: (path: string) => string;
}

type Token = { kind: 'word'; value: string; line: number } | { kind: ';' | '{' | '}'; line: number };

/** Splits nginx configuration text into words and `;` `{` `}`, following ngx_conf_read_token. */
export function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
  while (i < n) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === ';' || c === '{' || c === '}') {
      tokens.push({ kind: c, line });
      i++;
      continue;
    }
    const startLine = line;
    if (c === '"' || c === "'") {
      const quote = c;
      let value = '';
      i++;
      for (;;) {
        if (i >= n) throw new NginxConfigError('unexpected end of file, expecting closing quote', file, startLine);
        const d = text[i]!;
        if (d === '\\' && i + 1 < n) {
          const e = text[i + 1]!;
          // nginx unescapes \" \' \\ \t \r \n inside quotes; any other pair is kept as is.
          const map: Record<string, string> = { '"': '"', "'": "'", '\\': '\\', t: '\t', r: '\r', n: '\n' };
          if (e in map) {
            value += map[e];
            i += 2;
            continue;
          }
          value += d;
          i++;
          continue;
        }
        if (d === quote) {
          i++;
          break;
        }
        if (d === '\n') line++;
        value += d;
        i++;
      }
      const after = text[i];
      if (after !== undefined && !isSpace(after) && after !== ';' && after !== '{' && after !== '}') {
        throw new NginxConfigError(`unexpected "${after}"`, file, line);
      }
      tokens.push({ kind: 'word', value, line: startLine });
      continue;
    }
    let value = '';
    while (i < n) {
      const d = text[i]!;
      if (isSpace(d) || d === ';' || (d === '{' && value[value.length - 1] !== '$') || d === '}' && !/\$\{[^}]*$/.test(value)) break;
      if (d === '\\' && i + 1 < n && text[i + 1] !== '\n') {
        value += text[i + 1];
        i += 2;
        continue;
      }
      value += d;
      i++;
    }
    tokens.push({ kind: 'word', value, line: startLine });
  }
  return tokens;
}

/** Parses one file's tokens into directives (without expanding `include`). */
function parseTokens(tokens: Token[], file: string): NginxDirective[] {
  let pos = 0;
  const lastLine = tokens.length ? tokens[tokens.length - 1]!.line : 1;
  function block(depth: number, openLine: number): NginxDirective[] {
    const out: NginxDirective[] = [];
    for (;;) {
      const t = tokens[pos];
      if (!t) {
        if (depth > 0) throw new NginxConfigError('unexpected end of file, expecting "}"', file, lastLine);
        return out;
      }
      if (t.kind === '}') {
        if (depth === 0) throw new NginxConfigError('unexpected "}"', file, t.line);
        pos++;
        return out;
      }
      if (t.kind !== 'word') throw new NginxConfigError(`unexpected "${t.kind}"`, file, t.line);
      const name = t.value;
      const line = t.line;
      pos++;
      const args: string[] = [];
      for (;;) {
        const a = tokens[pos];
        if (!a) throw new NginxConfigError('unexpected end of file, expecting ";" or "}"', file, lastLine);
        pos++;
        if (a.kind === 'word') {
          args.push(a.value);
          continue;
        }
        if (a.kind === ';') {
          out.push({ name, args, file, line });
          break;
        }
        if (a.kind === '{') {
          out.push({ name, args, block: block(depth + 1, a.line), file, line });
          break;
        }
        throw new NginxConfigError(`unexpected "}" after "${name}", expecting ";"`, file, a.line);
      }
    }
    void openLine;
  }
  return block(0, 1);
}

const GLOB = /[*?[]/;

function globSegment(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) {
        re += '\\[';
        continue;
      }
      let set = pattern.slice(i + 1, end);
      if (set.startsWith('!')) set = '^' + set.slice(1);
      re += '[' + set.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

/** Expands a glob(3)-style absolute pattern: sorted, no dotfiles unless the pattern starts with a dot. */
export function expandGlob(pattern: string): string[] {
  const parts = pattern.split(sep);
  let bases = [parts[0] === '' ? sep : parts[0]!];
  for (const part of parts.slice(1)) {
    if (part === '') continue;
    const next: string[] = [];
    for (const base of bases) {
      if (!GLOB.test(part)) {
        next.push(join(base, part));
        continue;
      }
      const re = globSegment(part);
      let names: string[] = [];
      try {
        names = readdirSync(base);
      } catch {
        continue;
      }
      for (const name of names.sort()) {
        if (name.startsWith('.') && !part.startsWith('.')) continue;
        if (re.test(name)) next.push(join(base, name));
      }
    }
    bases = next;
  }
  return bases.filter((p) => {
    try {
      statSync(p);
      return true;
    } catch {
      return false;
    }
  });
}

/** A parsed configuration: the directive tree with every `include` spliced in, and the files read. */
export interface NginxConfig {
  file: string;
  prefix: string;
  directives: NginxDirective[];
  files: string[];
}

/**
 * Reads `file` and every file it includes. Relative `include` paths resolve against the conf prefix
 * (the main file's directory, like nginx); a glob that matches nothing is fine, a missing plain path
 * is an error. Throws NginxConfigError with `file:line`.
 */
export function parseNginxConfig(file: string, options: ParseOptions = {}): NginxConfig {
  const main = resolve(file);
  const prefix = resolve(options.prefix ?? dirname(main));
  const read = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const files: string[] = [];
  // Files are named relative to the main file's directory, so reports do not depend on the cwd.
  const display = (p: string) => {
    const rel = relative(dirname(main), p);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p;
  };

  function load(path: string, stack: string[], from?: { file: string; line: number }): NginxDirective[] {
    if (stack.includes(path)) {
      throw new NginxConfigError(`include cycle: "${display(path)}" includes itself`, from?.file ?? display(path), from?.line ?? 1);
    }
    let text: string;
    try {
      text = read(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      if (!from) throw new NginxConfigError(`open() "${path}" failed (${code})`, display(path), 0);
      throw new NginxConfigError(`open() "${path}" failed (${code})`, from.file, from.line);
    }
    files.push(path);
    const shown = display(path);
    const tree = parseTokens(tokenize(text, shown), shown);
    return expand(tree, [...stack, path]);
  }

  function expand(list: NginxDirective[], stack: string[]): NginxDirective[] {
    const out: NginxDirective[] = [];
    for (const d of list) {
      if (d.name === 'include' && !d.block) {
        if (d.args.length !== 1) throw new NginxConfigError('invalid number of arguments in "include" directive', d.file, d.line);
        const target = isAbsolute(d.args[0]!) ? d.args[0]! : join(prefix, d.args[0]!);
        const paths = GLOB.test(target) ? expandGlob(target) : [target];
        for (const p of paths) out.push(...load(p, stack, { file: d.file, line: d.line }));
        continue;
      }
      out.push(d.block ? { ...d, block: expand(d.block, stack) } : d);
    }
    return out;
  }

  const directives = load(main, []);
  return { file: main, prefix, directives, files };
}
