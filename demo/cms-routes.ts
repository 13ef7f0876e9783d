// What the demo CMS answers for each URL, as plain data (status, headers, body, delay), so the
// server around it only writes bytes. Headers mimic a stock WordPress on PHP.

import { randomBytes } from 'node:crypto';
import { hashString } from './seeded-random.js';
import { postDate, renderFeed, renderHome, renderNote, renderNotFound, renderPost } from './cms-pages.js';
import { makePng } from './tiny-png.js';

export interface CmsAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Extra time this URL takes on top of renderMs (only /slow). */
  delayMs: number;
}

export const SLOW_MS = 2000;
const CACHEABLE = 'public, max-age=60';
const HTML = 'text/html; charset=UTF-8';
// PHP's session module sends exactly these on any page that starts a session.
const PHP_SESSION_HEADERS = {
  'Cache-Control': 'no-store, no-cache, must-revalidate',
  Expires: 'Thu, 19 Nov 1981 08:52:00 GMT',
  Pragma: 'no-cache',
};

const PNG = makePng();

// Generating a 200 KB post takes a few ms; keep recent bodies, but never let the demo grow
// without bound.
const MEMO_LIMIT_BYTES = 64 * 1024 * 1024;
const memo = new Map<string, Buffer>();
let memoBytes = 0;
function memoised(key: string, render: () => string): Buffer {
  const hit = memo.get(key);
  if (hit) return hit;
  const body = Buffer.from(render(), 'utf8');
  if (memoBytes + body.length > MEMO_LIMIT_BYTES) {
    memo.clear();
    memoBytes = 0;
  }
  memo.set(key, body);
  memoBytes += body.length;
  return body;
}

function etagOf(key: string, body: Buffer): string {
  return `"${hashString(key).toString(16)}-${body.length.toString(16)}"`;
}

function page(status: number, body: Buffer, headers: Record<string, string>, delayMs = 0): CmsAnswer {
  return { status, body, delayMs, headers: { 'X-Powered-By': 'PHP/8.2.12', ...headers } };
}

/** Stock WordPress sends no caching headers at all; every fifth post behaves that way. */
export function postHasCachingHeaders(n: number): boolean {
  return n % 5 !== 0;
}

function post(n: number, pages: number): CmsAnswer {
  const body = memoised(`post:${n}:${pages}`, () => renderPost(n, pages));
  if (!postHasCachingHeaders(n)) return page(200, body, { 'Content-Type': HTML, Link: '</wp-json/>; rel="https://api.w.org/"' });
  return page(200, body, {
    'Content-Type': HTML,
    'Cache-Control': CACHEABLE,
    'Last-Modified': postDate(n).toUTCString(),
    ETag: etagOf(`post:${n}`, body),
    Link: '</wp-json/>; rel="https://api.w.org/"',
  });
}

function sessionOf(cookieHeader: string | undefined): string | undefined {
  const m = /(?:^|;\s*)PHPSESSID=([^;]+)/.exec(cookieHeader ?? '');
  return m?.[1];
}

export function cmsAnswer(path: string, cookieHeader: string | undefined, pages: number): CmsAnswer {
  if (path === '/' || path === '/index.php') {
    const body = memoised(`home:${pages}`, () => renderHome(pages));
    return page(200, body, { 'Content-Type': HTML, 'Cache-Control': CACHEABLE, ETag: etagOf('home', body) });
  }
  const postMatch = /^\/post\/([1-9][0-9]{0,8})\/?$/.exec(path);
  if (postMatch && Number(postMatch[1]) <= pages) return post(Number(postMatch[1]), pages);
  switch (path) {
    case '/cookie':
      // A tracking cookie, not a session: the request was anonymous, but this response must
      // still never be stored or shared.
      return page(200, Buffer.from(renderNote('Welcome', 'This page sets a cookie (visited=1).')), {
        'Content-Type': HTML,
        'Cache-Control': CACHEABLE,
        'Set-Cookie': 'visited=1; Path=/; Max-Age=31536000',
      });
    case '/login': {
      const sid = randomBytes(13).toString('hex');
      return page(200, Buffer.from(renderNote('Logged in', `You are now logged in. Your session is ${sid}.`)), {
        'Content-Type': HTML,
        ...PHP_SESSION_HEADERS,
        'Set-Cookie': `PHPSESSID=${sid}; path=/; HttpOnly`,
      });
    }
    case '/account': {
      const sid = sessionOf(cookieHeader);
      const text = sid ? `Welcome back, user ${sid}! These are your account details.` : 'You are not logged in. Visit /login first.';
      return page(200, Buffer.from(renderNote('Your account', text)), { 'Content-Type': HTML, 'Cache-Control': 'private' });
    }
    case '/image.png':
      return page(200, PNG, { 'Content-Type': 'image/png', 'Cache-Control': 'public, max-age=86400' });
    case '/slow':
      return page(200, Buffer.from(renderNote('Slow page', `This page took ${SLOW_MS / 1000} s to render.`)), { 'Content-Type': HTML, 'Cache-Control': CACHEABLE }, SLOW_MS);
    case '/feed':
    case '/feed/': {
      const body = memoised(`feed:${pages}`, () => renderFeed(pages));
      return page(200, body, {
        'Content-Type': 'application/rss+xml; charset=UTF-8',
        'Cache-Control': CACHEABLE,
        'Last-Modified': postDate(pages).toUTCString(),
        ETag: etagOf('feed', body),
      });
    }
  }
  return page(404, memoised(`404:${path}`, () => renderNotFound(path)), { 'Content-Type': HTML, 'Cache-Control': CACHEABLE });
}
