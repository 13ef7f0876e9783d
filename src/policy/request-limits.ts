// Limits on what a request may look like before memfront does any work for it.
//
// Node's parser enforces the header limit itself: the request line and the header fields
// together may not exceed MAX_HEADER_BYTES (else it answers 431 without calling us), and with
// insecureHTTPParser off it answers 400 to conflicting Content-Length / Transfer-Encoding.
// What is left for us is the URL, which the parser only bounds by the header limit.

/** Request line plus header fields (Node's maxHeaderSize; its default, said out loud). */
export const MAX_HEADER_BYTES = 16 * 1024;

/** Longest request target we accept (Apache's LimitRequestLine is 8190 for the whole line). */
export const MAX_URL_LENGTH = 8192;

export type TargetVerdict = { ok: true } | { ok: false; status: 400 | 414; reason: string };

export function checkRequestTarget(url: string | undefined): TargetVerdict {
  // RFC 9112 3.2: only origin-form is ours to serve; absolute-form and '*' are for proxies
  // and OPTIONS to the server as a whole.
  if (!url || url.charCodeAt(0) !== 47 /* / */) return { ok: false, status: 400, reason: 'not-origin-form' };
  // RFC 9110 15.5.15: 414 when the target is longer than the server is willing to interpret.
  if (url.length > MAX_URL_LENGTH) return { ok: false, status: 414, reason: 'url-too-long' };
  return { ok: true };
}
