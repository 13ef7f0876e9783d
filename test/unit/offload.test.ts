// The offload decision (mod_offload): which requests, which answers, which server.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { declaredLength, entrySize, Offload, offloadLocation, worthOffloading, DEFAULT_MIN_SIZE } from '../../src/engine/offload.js';
import type { RouteConfig } from '../../src/config/types.js';

const servers = ['http://127.0.0.1:9001', 'http://127.0.0.1:9002/', 'http://127.0.0.1:9003'];
const routes: RouteConfig[] = [
  { match: '^/files/private/', to: 'backend' },
  { match: '^/files/', to: 'offload', servers, minSize: 1000 },
  { match: '^/big/', to: 'offload', servers: ['http://o.example'] },
];
const offload = new Offload(routes);
const req = (url: string, o: { method?: string; headers?: Record<string, string> } = {}) => ({ method: o.method ?? 'GET', url, headers: o.headers ?? {} });

describe('Offload.targetFor', () => {
  for (const [name, r, want] of [
    ['a GET on an offload route', req('/files/a.iso'), true],
    ['a HEAD on an offload route', req('/files/a.iso', { method: 'HEAD' }), true],
    ['a POST is never redirected', req('/files/a.iso', { method: 'POST' }), false],
    ['the loop guard: a request from an offload server', req('/files/a.iso', { headers: { 'x-memfront-offload': '1' } }), false],
    ['an earlier route wins', req('/files/private/a.iso'), false],
    ['no offload route', req('/index.html'), false],
  ] as const) {
    it(`${name}: ${want}`, () => assert.equal(offload.targetFor(r) !== undefined, want));
  }

  it('minSize defaults to 1 MiB, and no offload route costs nothing', () => {
    assert.equal(offload.targetFor(req('/big/x'))!.minSize, DEFAULT_MIN_SIZE);
    assert.equal(new Offload([{ match: '^/', to: 'backend' }]).targetFor(req('/files/x')), undefined);
  });
});

describe('worthOffloading', () => {
  const t = offload.targetFor(req('/files/x'))!;
  for (const [status, size, want] of [
    [200, 1000, true],
    [200, 999, false],
    [200, undefined, false],
    [206, 5000, false],
    [404, 5000, false],
  ] as const) {
    it(`${status} of ${size ?? 'unknown'} bytes: ${want}`, () => assert.equal(worthOffloading(t, status, size), want));
  }
});

describe('offloadLocation', () => {
  const t = offload.targetFor(req('/files/x'))!;
  it('is a server followed by the path and query as sent', () => {
    const loc = offloadLocation(t, '/files/a%20b.iso?v=2&x=1');
    assert.match(loc, /^http:\/\/127\.0\.0\.1:900[123]\/files\/a%20b\.iso\?v=2&x=1$/);
  });
  it('one path always goes to the same server, whatever its query', () => {
    const base = offloadLocation(t, '/files/same.iso').replace(/\/files.*$/, '');
    for (const q of ['', '?a=1', '?b=2']) assert.ok(offloadLocation(t, `/files/same.iso${q}`).startsWith(base + '/files/'));
  });
  it('spreads paths over every server', () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const server = offloadLocation(t, `/files/f${i}.bin`).replace(/\/files.*$/, '');
      seen.set(server, (seen.get(server) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ['http://127.0.0.1:9001', 'http://127.0.0.1:9002', 'http://127.0.0.1:9003']);
    for (const n of seen.values()) assert.ok(n > 100, `each server gets a share (${[...seen.values()]})`);
  });
  it('drops an absolute-form authority', () => {
    assert.match(offloadLocation(t, 'http://evil.example/files/x?y'), /^http:\/\/127\.0\.0\.1:900[123]\/files\/x\?y$/);
  });
});

describe('sizes', () => {
  it('declaredLength reads one plain number only', () => {
    assert.equal(declaredLength('12345'), 12345);
    assert.equal(declaredLength(undefined), undefined);
    assert.equal(declaredLength('12, 12'), undefined);
    assert.equal(declaredLength('-1'), undefined);
  });
  it('entrySize: the identity length, else the chunks, else the body', () => {
    const base = { status: 200, headers: [], storedAt: 0, staleAt: 0, gzip: false, body: Buffer.alloc(10) };
    assert.equal(entrySize(base), 10);
    assert.equal(entrySize({ ...base, gzip: true, identityLength: 40 }), 40);
    assert.equal(entrySize({ ...base, body: Buffer.alloc(0), chunks: { id: 'a', size: 5, length: 12, crcs: [0, 0, 0] } }), 12);
  });
});
