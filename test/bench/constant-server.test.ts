// The bare constant server runs as its own process, answers its body to GET (headers but no
// body to HEAD), carries the headers it was given, and is gone after close().

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constantBody } from '../../bench/lib/constant-body.js';
import { httpProbe } from '../../bench/lib/http-probe.js';
import { startConstantServer } from '../../bench/lib/start-constant-server.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('the constant server answers every path with the same body and given headers', async () => {
  const server = await startConstantServer(10240, { headers: { 'Cache-Control': 'public, max-age=3600' } });
  try {
    assert.notEqual(server.pid, process.pid);
    for (const path of ['', 'any/path?q=1']) {
      const res = await httpProbe(server.url + path);
      assert.equal(res.status, 200);
      assert.equal(res.headers['cache-control'], 'public, max-age=3600');
      assert.equal(res.headers['content-length'], '10240');
      assert.deepEqual(res.body, constantBody(10240));
    }
    const head = await httpProbe(server.url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  } finally {
    await server.close();
  }
  assert.equal(alive(server.pid), false);
});
