// PEM armour: only at the edges; everything inside the package is DER bytes.

/** One PEM block: its label (e.g. `CERTIFICATE`) and DER content. */
export interface PemBlock {
  label: string;
  der: Uint8Array;
}

const LABEL = /^[A-Z0-9 ]+$/;

/** An encapsulation boundary (RFC 7468 §2): `-----BEGIN label-----` or `-----END label-----`. */
interface Boundary {
  begin: boolean;
  label: string;
  start: number;
  end: number;
}

/** Every boundary in `text`, in one forward pass (each indexOf starts past the previous hit). */
function boundaries(text: string): Boundary[] {
  const out: Boundary[] = [];
  let pos = 0;
  for (;;) {
    const i = text.indexOf('-----', pos);
    if (i < 0) return out;
    const begin = text.startsWith('BEGIN ', i + 5);
    if (!begin && !text.startsWith('END ', i + 5)) {
      pos = i + 1;
      continue;
    }
    const labelStart = i + (begin ? 11 : 9);
    const labelEnd = text.indexOf('-----', labelStart);
    if (labelEnd < 0) return out;
    const label = text.slice(labelStart, labelEnd);
    if (LABEL.test(label)) {
      out.push({ begin, label, start: i, end: labelEnd + 5 });
      pos = labelEnd + 5;
    } else {
      pos = labelEnd; // those dashes may open the next boundary
    }
  }
}

/**
 * Every PEM block in `text`, in order (RFC 7468): a BEGIN boundary directly followed by the END
 * boundary of the same label. Headers such as `Proc-Type:` lines are skipped. Linear time, also
 * on hostile input such as thousands of BEGIN lines without an END.
 */
export function parsePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const b = boundaries(text);
  for (let k = 0; k + 1 < b.length; k++) {
    const open = b[k]!;
    const close = b[k + 1]!;
    if (!open.begin || close.begin || close.label !== open.label) continue;
    const body = text
      .slice(open.end, close.start)
      .split(/\r?\n/)
      .filter((line) => !line.includes(':'))
      .join('')
      .replace(/\s+/g, '');
    blocks.push({ label: open.label, der: new Uint8Array(Buffer.from(body, 'base64')) });
    k++;
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
