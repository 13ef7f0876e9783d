// A private memcached starts on a free port, speaks the protocol there, and is gone after close().

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startMemcached } from '../../bench/lib/memcached-process.js';

function ask(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(command));
    let got = '';
    socket.on('data', (d) => {
      got += d.toString();
      if (got.endsWith('\r\n')) {
        socket.end();
        resolve(got);
      }
    });
    socket.on('error', reject);
  });
}

test('startMemcached gives a working memcached and close() stops it', async () => {
  const mc = await startMemcached();
  try {
    assert.equal(mc.server, `127.0.0.1:${mc.port}`);
    assert.match(await ask(mc.port, 'version\r\n'), /^VERSION \d/);
    assert.equal(await ask(mc.port, 'set k 0 0 2\r\nhi\r\n'), 'STORED\r\n');
  } finally {
    await mc.close();
  }
  assert.throws(() => process.kill(mc.pid, 0), /ESRCH/);
});
