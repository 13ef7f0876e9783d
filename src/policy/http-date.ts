// Strict HTTP-date parsing (RFC 9110 5.6.7): Date.parse accepts "0", "-1" and free text,
// which would turn a broken Expires into a far-past or arbitrary date instead of "invalid".

const MONTHS: Record<string, number> = {
  jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11,
};

// IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
const IMF = /^[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
// obsolete RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
const RFC850 = /^[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
// obsolete asctime: Sun Nov  6 08:49:37 1994
const ASCTIME = /^[A-Za-z]{3} ([A-Za-z]{3}) ( \d|\d{2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/** Milliseconds since the epoch, or null when the text is not an HTTP-date. */
export function parseHttpDate(text: string | undefined, now?: number): number | null {
  if (text === undefined) return null;
  const s = text.trim();
  let m: RegExpExecArray | null;
  if ((m = IMF.exec(s))) return build(+m[3], m[2], +m[1], +m[4], +m[5], +m[6]);
  if ((m = ASCTIME.exec(s))) return build(+m[6], m[1], +m[2].trim(), +m[3], +m[4], +m[5]);
  if ((m = RFC850.exec(s))) {
    // RFC 9110 5.6.7: a two-digit year that looks more than 50 years in the future is in the past.
    const nowYear = new Date(now ?? 0).getUTCFullYear();
    let year = 2000 + +m[3];
    if (now !== undefined ? year > nowYear + 50 : year >= 2070) year -= 100;
    return build(year, m[2], +m[1], +m[4], +m[5], +m[6]);
  }
  return null;
}

function build(year: number, mon: string, day: number, h: number, mi: number, sec: number): number | null {
  const month = MONTHS[mon.toLowerCase()];
  if (month === undefined || h > 23 || mi > 59 || sec > 60) return null;
  const ms = Date.UTC(year, month, day, h, mi, Math.min(sec, 59));
  // Reject 31 Feb and the like rather than letting Date roll them over.
  if (new Date(ms).getUTCDate() !== day) return null;
  return ms;
}
