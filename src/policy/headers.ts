// The plain header shape the policy modules read (Node's req.headers: lower-case names),
// and the two ways of flattening a repeated header.

export type Headers = Record<string, string | string[] | undefined>;

/** A repeated list-valued header is one comma-separated list (RFC 9110 5.3). */
export function joinList(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  return value.length === 0 ? undefined : value.join(', ');
}

/** The members of a comma-separated list header, trimmed, empty members dropped (RFC 9110 5.6.1). */
export function listMembers(value: string | string[] | undefined): string[] {
  const joined = joinList(value);
  if (joined === undefined) return [];
  return joined.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** The first field line of a singleton header (Date, Expires, Last-Modified, ...). */
export function firstValue(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value[0];
}

/** Present at all: an empty array is what "no such header" looks like after filtering. */
export function isPresent(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  return typeof value === 'string' || value.length > 0;
}
