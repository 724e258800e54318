// PEM armour: only at the edges; everything inside the package is DER bytes.

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** One PEM block: its label (e.g. `CERTIFICATE`) and DER content. */
export interface PemBlock {
  label: string;
  der: Uint8Array;
}

/** Every PEM block in `text`, in order. Headers such as `Proc-Type:` lines are skipped. */
export function parsePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    const body = m[2]!
      .split(/\r?\n/)
      .filter((line) => !line.includes(':'))
      .join('')
      .replace(/\s+/g, '');
    blocks.push({ label: m[1]!, der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
  return blocks;
}

/** True when `data` (text or bytes) contains PEM armour. */
export function looksLikePem(data: string | Uint8Array): boolean {
  const text = typeof data === 'string' ? data : Buffer.from(data.subarray(0, 4096)).toString('latin1');
  return text.includes('-----BEGIN ');
}

/** DER bytes as PEM with 64-column lines and LF endings. */
export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
