// Table tests for RFC 9111 4.4: which URLs an unsafe method's answer invalidates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { invalidationTargets, isSafeMethod, type UnsafeAnswer, type UnsafeRequest } from '../../src/policy/invalidate.js';

const req = (o: Partial<UnsafeRequest> = {}): UnsafeRequest => ({ method: 'POST', scheme: 'http', host: 'example.com', url: '/post/1?x=1', ...o });

const cases: Array<{ name: string; req: UnsafeRequest; res: UnsafeAnswer; want: string[] }> = [
  { name: 'POST 200: its target', req: req(), res: { status: 200 }, want: ['/post/1?x=1'] },
  { name: 'PUT 204', req: req({ method: 'PUT' }), res: { status: 204 }, want: ['/post/1?x=1'] },
  { name: 'DELETE 200', req: req({ method: 'DELETE' }), res: { status: 200 }, want: ['/post/1?x=1'] },
  { name: 'PATCH 200', req: req({ method: 'PATCH' }), res: { status: 200 }, want: ['/post/1?x=1'] },
  { name: 'an unknown method counts as unsafe', req: req({ method: 'FROB' }), res: { status: 200 }, want: ['/post/1?x=1'] },
  { name: 'GET: safe', req: req({ method: 'GET' }), res: { status: 200 }, want: [] },
  { name: 'HEAD, OPTIONS, TRACE: safe', req: req({ method: 'OPTIONS' }), res: { status: 200 }, want: [] },
  { name: 'a 4xx is an error: nothing', req: req(), res: { status: 403 }, want: [] },
  { name: 'a 5xx is an error: nothing', req: req(), res: { status: 502 }, want: [] },
  { name: '303 with a relative Location: both', req: req(), res: { status: 303, location: '/post/1/done' }, want: ['/post/1?x=1', '/post/1/done'] },
  { name: 'Location relative to the target', req: req({ url: '/a/b' }), res: { status: 302, location: 'c?d=1' }, want: ['/a/b', '/a/c?d=1'] },
  { name: 'absolute Location on the same host', req: req(), res: { status: 201, location: 'http://example.com/post/2' }, want: ['/post/1?x=1', '/post/2'] },
  { name: 'Location on another host: not ours to invalidate', req: req(), res: { status: 201, location: 'http://evil.example/post/2' }, want: ['/post/1?x=1'] },
  { name: 'Location on another scheme: another origin', req: req(), res: { status: 201, location: 'https://example.com/post/2' }, want: ['/post/1?x=1'] },
  { name: 'Location on another port: another origin', req: req({ host: 'example.com:8080' }), res: { status: 201, location: 'http://example.com/post/2' }, want: ['/post/1?x=1'] },
  { name: 'Content-Location too', req: req(), res: { status: 200, contentLocation: '/post/1/view' }, want: ['/post/1?x=1', '/post/1/view'] },
  { name: 'the same URL twice is one target', req: req(), res: { status: 200, location: '/post/1?x=1', contentLocation: '/post/1?x=1' }, want: ['/post/1?x=1'] },
  { name: 'a fragment is not part of the target', req: req(), res: { status: 200, location: '/p#top' }, want: ['/post/1?x=1', '/p'] },
  { name: 'an unparsable Location is ignored', req: req(), res: { status: 200, location: 'http://[' }, want: ['/post/1?x=1'] },
];
for (const c of cases) test(`invalidationTargets: ${c.name}`, () => assert.deepEqual(invalidationTargets(c.req, c.res), c.want));

test('isSafeMethod: what invalidationTargets treats as safe, in any case; unknown methods are unsafe', () => {
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PURGE', 'get', 'Head']) assert.equal(isSafeMethod(m), true, m);
  for (const m of ['POST', 'PUT', 'DELETE', 'PATCH', 'FROB', '']) assert.equal(isSafeMethod(m), false, m);
  for (const m of ['GET', 'post', 'FROB']) {
    assert.equal(invalidationTargets(req({ method: m }), { status: 200 }).length === 0, isSafeMethod(m), m);
  }
});
