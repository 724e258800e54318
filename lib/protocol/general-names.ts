// GeneralNames (RFC 5280 §4.2.1.6) → text (`DNS:a.example`, `IP:192.0.2.1`, …), for records and pages only.
import { children, content, readOid, readWhole, Tag, type Tlv } from './der.js';
import { formatName } from './name.js';

/**
 * ```
 * GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
 * GeneralName ::= CHOICE { otherName [0], rfc822Name [1] IA5String, dNSName [2] IA5String,
 *   x400Address [3], directoryName [4] Name, ediPartyName [5],
 *   uniformResourceIdentifier [6] IA5String, iPAddress [7] OCTET STRING, registeredID [8] OID }
 * ```
 */
export function formatGeneralNames(der: Uint8Array): string[] {
  return children(readWhole(der, Tag.sequence, 'GeneralNames')).map(formatGeneralName);
}

function ia5(t: Tlv): string {
  return Buffer.from(content(t)).toString('latin1');
}

function formatGeneralName(t: Tlv): string {
  const n = t.tag & 0x1f;
  switch (n) {
    case 1:
      return `email:${ia5(t)}`;
    case 2:
      return `DNS:${ia5(t)}`;
    case 4:
      return `DirName:${formatName(children(t)[0]!)}`;
    case 6:
      return `URI:${ia5(t)}`;
    case 7:
      return `IP:${formatIp(content(t))}`;
    case 8:
      return `RID:${readOid({ ...t, tag: Tag.oid })}`;
    case 0:
      return `othername:${readOid(children(t)[0]!)}`;
    default:
      return `GeneralName[${n}]`;
  }
}

function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) return Buffer.from(b).toString('hex');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // Compress the longest run of zero groups (RFC 5952 §4.2).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
