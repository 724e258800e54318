// Media type parsing: case-insensitive type and parameter names, optional whitespace (RFC 9110 §8.3.1).

/** A parsed Content-Type: lower-cased `type/subtype` and parameters (names lower-cased). */
export interface MediaTypeValue {
  type: string;
  params: Record<string, string>;
}

/** Parses a Content-Type header value; undefined for an absent or empty header. */
export function parseMediaType(header: string | undefined): MediaTypeValue | undefined {
  if (!header) return undefined;
  const [head, ...rest] = header.split(';');
  const type = head!.trim().toLowerCase();
  if (!type) return undefined;
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const name = p.slice(0, eq).trim().toLowerCase();
    let value = p.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    if (name) params[name] = value;
  }
  return { type, params };
}
