// est-admin: the issuance ledger from a shell: revoke, CRL, list, show, and the PostgreSQL schema and import.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { EstError } from '../errors.js';
import { toPem } from '../protocol/pem.js';
import { createCrl, importFiles, MAX_NEXT_UPDATE_DAYS, openStore, revokeCertificate, type StoreLocation } from '../store/admin.js';
import { parseReason } from '../store/openssl-index.js';
import { createPool, migrate, redactUrl } from '../store/postgres-store.js';
import type { CertificateRecord, RecordStore } from '../store/types.js';
import { loadConfigFile } from './server-config.js';

export const USAGE = `Usage: est-admin <command> [options]

Commands:
  revoke <serial> [--reason <r>] [--by <name>]
                        revoke a certificate (reasons: unspecified, keyCompromise, CACompromise,
                        affiliationChanged, superseded, cessationOfOperation, certificateHold,
                        removeFromCRL, privilegeWithdrawn, AACompromise)
  crl --out <file> [--crl-number <n>] [--next-update <days>] [--pem]
                        write a CRL of every revocation, signed by the CA key
  list [--subject <s>] [--label <l>] [--expiring-within <days>] [--status valid|revoked]
       [--limit <n>] [--json]
                        issued certificates, newest first
  show <serial> [--json|--pem]
                        one certificate's record (or its PEM)
  db migrate --store <postgres-url>
                        create or upgrade the PostgreSQL schema
  db import --store <postgres-url> --serial-file <file> [--index <index.txt>]
                        copy the embedded store into PostgreSQL; new serials continue past
                        the highest imported one

Where the ledger is (one of):
  --store <postgres-url>       PostgreSQL (or $EST_STORE)
  --serial-file <file>         the embedded store: the serial file (caSerialNumber) and
  [--index <index.txt>]        index.txt beside it (default: ca.srl -> ca.index.txt)
  --config <file> [--label l]  an est-server config: its store, caIndex, caSerialNumber,
                               caRootCertificate and caPrivateKey
CA for crl: --ca-cert <file> --ca-key <file> (or from --config)

Exit codes: 0 done; 1 failed (unknown serial, store unreachable, ...); 2 usage error.`;

export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
}

const OPTIONS = {
  store: { type: 'string' },
  'serial-file': { type: 'string' },
  index: { type: 'string' },
  config: { type: 'string' },
  label: { type: 'string' },
  'ca-cert': { type: 'string' },
  'ca-key': { type: 'string' },
  reason: { type: 'string' },
  by: { type: 'string' },
  out: { type: 'string', short: 'o' },
  'crl-number': { type: 'string' },
  'next-update': { type: 'string' },
  subject: { type: 'string' },
  'expiring-within': { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  pem: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

function recordJson(r: CertificateRecord): Record<string, unknown> {
  return {
    ...r,
    notBefore: Number.isNaN(r.notBefore.getTime()) ? null : r.notBefore.toISOString(),
    notAfter: r.notAfter.toISOString(),
    issuedAt: Number.isNaN(r.issuedAt.getTime()) ? null : r.issuedAt.toISOString(),
    ...(r.revokedAt ? { revokedAt: r.revokedAt.toISOString() } : {}),
    certificate: Buffer.from(r.certificate).toString('base64'),
  };
}

function who(r: CertificateRecord): string {
  const q = r.requester;
  if (q.user) return `${q.method}:${q.user}`;
  if (q.certificateSubject) return `${q.method}:${q.certificateSubject}`;
  return q.method;
}

function recordText(r: CertificateRecord): string {
  const lines: Array<[string, string | undefined]> = [
    ['serial', r.serial],
    ['status', r.status + (r.revokedAt ? ` (${r.revocationReason ?? 'unspecified'}, ${r.revokedAt.toISOString()}${r.revokedBy ? `, by ${r.revokedBy}` : ''})` : '')],
    ['subject', r.subject],
    ['sans', r.sans.join(', ') || undefined],
    ['notBefore', Number.isNaN(r.notBefore.getTime()) ? undefined : r.notBefore.toISOString()],
    ['notAfter', r.notAfter.toISOString()],
    ['issuer', r.issuer || undefined],
    ['label', r.label],
    ['operation', r.operation],
    ['requester', who(r)],
    ['peer', r.peerAddress || undefined],
    ['requestId', r.requestId || undefined],
    ['issuedAt', Number.isNaN(r.issuedAt.getTime()) ? undefined : r.issuedAt.toISOString()],
  ];
  return lines.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${(k + ':').padEnd(11)} ${v}`).join('\n') + '\n';
}

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number (got ${JSON.stringify(v)})`);
  return n;
}

interface Where extends StoreLocation {
  caCert?: string;
  caKey?: string;
}

async function locate(v: Record<string, string | boolean | undefined>): Promise<Where> {
  const w: Where = {};
  if (typeof v.config === 'string') {
    const cfg = await loadConfigFile(v.config);
    const mount = typeof v.label === 'string' && v.label !== '' ? `/.well-known/est/${v.label}` : '/.well-known/est';
    const o = cfg.mounts[mount] as Record<string, unknown> | undefined;
    if (!o) throw new UsageError(`${v.config} has no mount ${mount}`);
    if (typeof o.store === 'string') w.store = o.store;
    if (typeof o.caSerialNumber === 'string') w.serialFile = o.caSerialNumber;
    if (typeof o.caIndex === 'string') w.index = o.caIndex;
    if (typeof o.caRootCertificate === 'string') w.caCert = o.caRootCertificate;
    if (typeof o.caPrivateKey === 'string') w.caKey = o.caPrivateKey;
  }
  const store = (v.store as string | undefined) ?? (w.store === undefined && v['serial-file'] === undefined && v.index === undefined ? process.env.EST_STORE : undefined);
  if (store) w.store = store;
  if (typeof v['serial-file'] === 'string') w.serialFile = v['serial-file'];
  if (typeof v.index === 'string') w.index = v.index;
  if (typeof v['ca-cert'] === 'string') w.caCert = v['ca-cert'];
  if (typeof v['ca-key'] === 'string') w.caKey = v['ca-key'];
  if (w.store === undefined && w.serialFile === undefined && w.index === undefined) {
    throw new UsageError('where is the ledger? pass --store <postgres-url>, --serial-file <file> [--index <file>], or --config <file>');
  }
  return w;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[], io: CliIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    io.err(`est-admin: ${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const [cmd, ...args] = parsed.positionals;
  if (v.help || cmd === 'help') {
    io.out(USAGE + '\n');
    return 0;
  }
  if (!cmd) {
    io.err(USAGE + '\n');
    return 2;
  }
  let store: RecordStore | undefined;
  try {
    if (cmd === 'db') {
      const sub = args[0];
      const url = (v.store as string | undefined) ?? process.env.EST_STORE;
      if (sub !== 'migrate' && sub !== 'import') throw new UsageError('db needs a subcommand: migrate or import');
      if (!url) throw new UsageError(`db ${sub} needs --store <postgres-url>`);
      if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError(`--store must be a postgres:// URL (got ${JSON.stringify(url.slice(0, 40))})`);
      if (sub === 'migrate') {
        const pool = createPool(url, { max: 1 });
        try {
          const r = await migrate(pool);
          io.out(`${redactUrl(url)}: schema version ${r.version} ${r.created ? 'created' : 'up to date'}\n`);
        } finally {
          await pool.end();
        }
        return 0;
      }
      const serialFile = v['serial-file'] as string | undefined;
      const index = v.index as string | undefined;
      if (serialFile === undefined && index === undefined) throw new UsageError('db import needs --serial-file <file> (and --index when index.txt is not the default)');
      const pool = createPool(url, { max: 1 });
      try {
        await migrate(pool);
        const r = await importFiles(pool, { ...(serialFile !== undefined ? { serialFile } : {}), ...(index !== undefined ? { index } : {}) });
        io.out(`imported ${r.inserted} certificate record(s); new serials start above ${r.nextSerialAbove.toString(16).toUpperCase()}\n`);
      } finally {
        await pool.end();
      }
      return 0;
    }

    const where = await locate(v);
    // What the store works around (a damaged ledger line) is said on stderr.
    const open = () => openStore(where, { onError: (e) => io.err(`est-admin: warning: ${e.message}\n`) });
    switch (cmd) {
      case 'revoke': {
        if (args.length !== 1) throw new UsageError('revoke takes one serial number (hex)');
        const reasonName = (v.reason as string | undefined) ?? 'unspecified';
        const reason = parseReason(reasonName);
        if (!reason) throw new UsageError(`unknown --reason ${JSON.stringify(reasonName)}`);
        store = await open();
        const before = await store.get(args[0]!);
        const r = await revokeCertificate(store, args[0]!, reason, (v.by as string | undefined) ?? `est-admin (${process.env.USER ?? 'unknown user'})`);
        if (before?.status === 'revoked') io.out(`${r.serial} was already revoked on ${r.revokedAt?.toISOString()} (${r.revocationReason ?? 'unspecified'})\n`);
        else io.out(`revoked ${r.serial} (${r.subject}): ${reason}\n`);
        return 0;
      }
      case 'crl': {
        if (typeof v.out !== 'string') throw new UsageError('crl needs --out <file>');
        if (!where.caCert || !where.caKey) throw new UsageError('crl needs the CA: --ca-cert <file> --ca-key <file> (or --config)');
        let crlNumber: bigint | undefined;
        if (typeof v['crl-number'] === 'string') {
          if (!/^\d{1,40}$/.test(v['crl-number'])) throw new UsageError(`--crl-number must be a non-negative integer (got ${JSON.stringify(v['crl-number'])})`);
          crlNumber = BigInt(v['crl-number']);
        }
        const days = positive('next-update', v['next-update'] as string | undefined);
        // nextUpdate is a Time (RFC 5280 §5.1.2.5): createCrl's bound, said here as a usage error.
        if (days !== undefined && days > MAX_NEXT_UPDATE_DAYS) throw new UsageError(`--next-update must be at most ${MAX_NEXT_UPDATE_DAYS} days (got ${JSON.stringify(v['next-update'])})`);
        store = await open();
        const der = await createCrl(store, {
          caCertificate: where.caCert,
          caKey: where.caKey,
          ...(crlNumber !== undefined ? { crlNumber } : {}),
          ...(days !== undefined ? { nextUpdateDays: days } : {}),
        });
        writeFileSync(v.out, v.pem ? toPem(der, 'X509 CRL') : der);
        const n = (await store.revoked()).length;
        io.out(`wrote ${v.out}: ${n} revoked certificate(s)\n`);
        return 0;
      }
      case 'list': {
        const status = v.status as string | undefined;
        if (status !== undefined && status !== 'valid' && status !== 'revoked') throw new UsageError('--status must be valid or revoked');
        const within = positive('expiring-within', v['expiring-within'] as string | undefined);
        const limit = positive('limit', v.limit as string | undefined);
        store = await open();
        const { records, total } = await store.list({
          ...(typeof v.subject === 'string' ? { subject: v.subject } : {}),
          ...(typeof v.label === 'string' && v.config === undefined ? { label: v.label } : {}),
          ...(within !== undefined ? { expiringWithinDays: within } : {}),
          ...(status !== undefined ? { status: status as 'valid' | 'revoked' } : {}),
          limit: limit ?? 100,
        });
        if (v.json) {
          io.out(JSON.stringify({ total, records: records.map(recordJson) }, null, 2) + '\n');
        } else {
          for (const r of records) io.out(`${r.serial}\t${r.status}\t${r.notAfter.toISOString()}\t${r.label ?? '-'}\t${r.subject}\n`);
          io.out(`${records.length} of ${total} record(s)\n`);
        }
        return 0;
      }
      case 'show': {
        if (args.length !== 1) throw new UsageError('show takes one serial number (hex)');
        store = await open();
        const r = await store.get(args[0]!);
        if (!r) {
          io.err(`est-admin: serial ${args[0]} was never issued by this CA\n`);
          return 1;
        }
        if (v.pem) {
          if (!r.certificate.length) {
            io.err(`est-admin: the ledger has no certificate for ${r.serial} (a line written by openssl ca)\n`);
            return 1;
          }
          io.out(toPem(r.certificate, 'CERTIFICATE'));
        } else if (v.json) io.out(JSON.stringify(recordJson(r), null, 2) + '\n');
        else io.out(recordText(r));
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`est-admin: ${e.message}\n`);
      return 2;
    }
    io.err(`est-admin: ${e instanceof EstError ? e.message : (e as Error).message}\n`);
    return 1;
  } finally {
    await store?.close().catch(() => {});
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
