// Table tests for the anonymous-or-bypass decision and Cookie header parsing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyRequest, parseCookieNames, someCookieName } from '../../src/policy/classify-request.js';
import { compileGlobs } from '../../src/policy/glob.js';
import type { Headers } from '../../src/policy/headers.js';

const rules = { sessionCookie: compileGlobs(['PHPSESSID', 'sessionid', 'wordpress_logged_in_*']) };

function requestBut(o: { method?: string; headers?: Headers } = {}): { method: string; headers: Headers } {
  return { method: o.method ?? 'GET', headers: { host: 'example.com', 'accept-encoding': 'gzip', ...o.headers } };
}

const cases: Array<{ name: string; req: { method: string; headers: Headers }; want: ReturnType<typeof classifyRequest> }> = [
  { name: 'plain GET', req: requestBut(), want: { cacheable: true } },
  { name: 'plain HEAD', req: requestBut({ method: 'HEAD' }), want: { cacheable: true } },
  { name: 'POST', req: requestBut({ method: 'POST' }), want: { cacheable: false, reason: 'method' } },
  { name: 'PUT', req: requestBut({ method: 'PUT' }), want: { cacheable: false, reason: 'method' } },
  { name: 'OPTIONS', req: requestBut({ method: 'OPTIONS' }), want: { cacheable: false, reason: 'method' } },
  { name: 'PURGE', req: requestBut({ method: 'PURGE' }), want: { cacheable: false, reason: 'method' } },
  { name: 'lower-case get is not GET', req: requestBut({ method: 'get' }), want: { cacheable: false, reason: 'method' } },
  {
    name: 'method checked before authorization',
    req: requestBut({ method: 'POST', headers: { authorization: 'Basic eDp5' } }),
    want: { cacheable: false, reason: 'method' },
  },
  { name: 'Authorization', req: requestBut({ headers: { authorization: 'Bearer abc' } }), want: { cacheable: false, reason: 'authorization' } },
  { name: 'empty Authorization still counts', req: requestBut({ headers: { authorization: '' } }), want: { cacheable: false, reason: 'authorization' } },
  { name: 'harmless cookies', req: requestBut({ headers: { cookie: '_ga=GA1.2.3; theme=dark' } }), want: { cacheable: true } },
  { name: 'session cookie', req: requestBut({ headers: { cookie: 'theme=dark; PHPSESSID=abc' } }), want: { cacheable: false, reason: 'session-cookie' } },
  {
    name: 'wildcard session cookie',
    req: requestBut({ headers: { cookie: 'wordpress_logged_in_0123abcd=admin%7C1700000000%7Cxyz' } }),
    want: { cacheable: false, reason: 'session-cookie' },
  },
  {
    name: 'session cookie name only inside a value does not count',
    req: requestBut({ headers: { cookie: 'note=PHPSESSID=abc; x=sessionid' } }),
    want: { cacheable: true },
  },
  {
    name: 'cookie value with = and base64 padding',
    req: requestBut({ headers: { cookie: 'a=b==; sessionid=eyJhIjoxfQ==' } }),
    want: { cacheable: false, reason: 'session-cookie' },
  },
  {
    name: 'odd spacing and empty pieces',
    req: requestBut({ headers: { cookie: ' ;;  theme=dark ;   PHPSESSID =abc;' } }),
    want: { cacheable: false, reason: 'session-cookie' },
  },
  {
    name: 'repeated Cookie headers (array)',
    req: requestBut({ headers: { cookie: ['theme=dark', 'sessionid=1'] } }),
    want: { cacheable: false, reason: 'session-cookie' },
  },
  {
    name: 'cookie names are case-sensitive',
    req: requestBut({ headers: { cookie: 'phpsessid=abc; SESSIONID=1' } }),
    want: { cacheable: true },
  },
  { name: 'empty Cookie header', req: requestBut({ headers: { cookie: '' } }), want: { cacheable: true } },
  {
    name: 'bare session cookie name without =',
    req: requestBut({ headers: { cookie: 'PHPSESSID' } }),
    want: { cacheable: false, reason: 'session-cookie' },
  },
  {
    name: 'authorization reported before session cookie',
    req: requestBut({ headers: { authorization: 'x', cookie: 'PHPSESSID=1' } }),
    want: { cacheable: false, reason: 'authorization' },
  },
];

for (const c of cases) {
  test(`classifyRequest: ${c.name}`, () => {
    assert.deepEqual(classifyRequest(c.req, rules), c.want);
  });
}

test('classifyRequest: with no session cookie patterns, any cookie is anonymous', () => {
  const none = { sessionCookie: compileGlobs([]) };
  assert.deepEqual(classifyRequest(requestBut({ headers: { cookie: 'PHPSESSID=1' } }), none), { cacheable: true });
});

const cookieCases: Array<{ header: string | string[] | undefined; want: string[] }> = [
  { header: undefined, want: [] },
  { header: '', want: [] },
  { header: 'a=1', want: ['a'] },
  { header: 'a=1; b=2', want: ['a', 'b'] },
  { header: 'a=1;b=2', want: ['a', 'b'] },
  { header: 'a=x=y=z; b=', want: ['a', 'b'] },
  { header: '  a  =  1  ;  ;b=2;', want: ['a', 'b'] },
  { header: ['a=1; b=2', 'c=3'], want: ['a', 'b', 'c'] },
  { header: [], want: [] },
  { header: 'flag; a=1', want: ['flag', 'a'] },
  { header: '=novalue; a=1', want: ['a'] },
  { header: 'a="quoted; value"', want: ['a', 'value"'] },
];

for (const c of cookieCases) {
  test(`parseCookieNames(${JSON.stringify(c.header)})`, () => {
    assert.deepEqual(parseCookieNames(c.header), c.want);
  });
}

test('parseCookieNames reads what split(";") and trim() read, for every short header of the characters that matter', () => {
  // The reading it replaced (one list of pieces, each trimmed), kept here as the reference.
  const reference = (line: string) =>
    line.split(';').flatMap((piece) => {
      const eq = piece.indexOf('=');
      const name = (eq === -1 ? piece : piece.slice(0, eq)).trim();
      return name === '' ? [] : [name];
    });
  const alphabet = ['a', 'b', '=', ';', ' ', '\t', '\u00a0'];
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  for (let i = 0; i < 20_000; i++) {
    let line = '';
    const length = next() % 14;
    for (let j = 0; j < length; j++) line += alphabet[next() % alphabet.length];
    assert.deepEqual(parseCookieNames(line), reference(line), JSON.stringify(line));
  }
});

test('someCookieName: the names in order, up to the first that passes', () => {
  const seen: string[] = [];
  assert.equal(someCookieName('_ga=1; PHPSESSID=x; later=2', (n) => (seen.push(n), n === 'PHPSESSID')), true);
  assert.deepEqual(seen, ['_ga', 'PHPSESSID']);
  assert.equal(someCookieName(['a=1', 'b=2; c'], (n) => n === 'c'), true);
  assert.equal(someCookieName('a=1; b=2', () => false), false);
  assert.equal(someCookieName(undefined, () => true), false);
  // A piece without `=` before pieces with one: the name is the whole piece, as before.
  assert.equal(someCookieName('x; y; PHPSESSID; z=1', (n) => n === 'PHPSESSID'), true);
});
