// The background-refresh client makes its undici pool on the first fetch (undici-lazy.ts):
// it fetches like before, closes cleanly whether or not it ever fetched, and refuses to
// fetch once closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BackendClient } from '../../src/upstream/backend-client.js';
import { UpstreamError } from '../../src/errors.js';

async function origin(): Promise<{ url: string; paths: string[]; close: () => Promise<void> }> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Origin': 'yes' });
    res.end('refreshed');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, paths, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function text(body: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const c of body) s += c.toString();
  return s;
}

test('BackendClient: the first fetch makes the pool and gets the answer; later fetches reuse it', async () => {
  const o = await origin();
  const client = new BackendClient(o.url, 2000);
  try {
    for (const path of ['/a?x=1', '/b']) {
      const r = await client.fetch({ path, headers: { host: 'example.test' } });
      assert.equal(r.status, 200);
      assert.equal(await text(r.body), 'refreshed');
      assert.ok(r.complete());
      assert.ok(r.rawHeaders.includes('X-Origin') || r.rawHeaders.includes('x-origin'));
    }
    assert.deepEqual(o.paths, ['/a?x=1', '/b']);
  } finally {
    await client.close();
    await o.close();
  }
});

test('BackendClient: closing one that never fetched is clean; a fetch after close is an UpstreamError', async () => {
  const o = await origin();
  const client = new BackendClient(o.url, 2000);
  await client.close();
  await assert.rejects(client.fetch({ path: '/late', headers: {} }), (err: unknown) => err instanceof UpstreamError && /MF_BACKEND_FAILED/.test(String((err as UpstreamError).code)));
  assert.deepEqual(o.paths, []);
  await o.close();
});
