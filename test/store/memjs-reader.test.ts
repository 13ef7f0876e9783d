// The memjs read path (memjs-reader.ts): answers split across socket reads at any byte, or
// several in one read, reach memjs's dispatch whole and in order, with the same bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import memjs from 'memjs';
import { firstMessageLength, installMemjsReader } from '../../src/store/memjs-reader.js';
import { startMemcached } from '../helpers/memcached.js';

installMemjsReader();

interface Answer {
  opaque: number;
  val: string;
}

/** A binary-protocol GET answer (opcode 0x00, 4 bytes of flags as extras). */
function answer(opaque: number, value: Buffer): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt8(0x81, 0);
  head.writeUInt8(4, 4);
  head.writeUInt32BE(4 + value.length, 8);
  head.writeUInt32BE(opaque, 12);
  return Buffer.concat([head, Buffer.alloc(4), value]);
}

function server(): { feed(b: Buffer): void; got: Answer[] } {
  const s = new (memjs as unknown as { Server: new (h: string, p: number) => Record<string, unknown> }).Server('127.0.0.1', 1);
  const got: Answer[] = [];
  s.respond = (r: { header: { opaque: number }; val: Buffer }) => got.push({ opaque: r.header.opaque, val: r.val.toString() });
  return { feed: (b) => (s.responseHandler as (b: Buffer) => void).call(s, b), got };
}

describe('memjs reader', () => {
  const stream = Buffer.concat([answer(1, Buffer.from('first value')), answer(2, Buffer.alloc(3000, 'b')), answer(3, Buffer.from(''))]);
  const expected: Answer[] = [
    { opaque: 1, val: 'first value' },
    { opaque: 2, val: 'b'.repeat(3000) },
    { opaque: 3, val: '' },
  ];

  it('dispatches the same answers whether they arrive in one read, split at any byte, or a byte at a time', () => {
    const whole = server();
    whole.feed(stream);
    assert.deepEqual(whole.got, expected);
    for (let cut = 1; cut < stream.length; cut += 7) {
      const s = server();
      s.feed(stream.subarray(0, cut));
      s.feed(stream.subarray(cut));
      assert.deepEqual(s.got, expected, `cut at ${cut}`);
    }
    const bytes = server();
    for (let i = 0; i < stream.length; i++) bytes.feed(stream.subarray(i, i + 1));
    assert.deepEqual(bytes.got, expected);
  });

  it('waits for the header before reading a message length', () => {
    assert.equal(firstMessageLength([Buffer.alloc(10)], 10), Infinity);
    const a = answer(7, Buffer.alloc(100));
    assert.equal(firstMessageLength([a.subarray(0, 5), a.subarray(5, 30)], 30), a.length);
  });

  it('reads large values from a real memcached intact', async () => {
    const mc = await startMemcached();
    const client = memjs.Client.create(mc.address, { retries: 0, timeout: 2 });
    try {
      const values = [1, 1500, 70_000, 900_000].map((n, i) => Buffer.alloc(n, String.fromCharCode(97 + i)));
      for (const [i, v] of values.entries()) await client.set(`k${i}`, v, {});
      // Concurrent gets: answers share reads and split across them.
      const read = await Promise.all(values.map((_, i) => client.get(`k${i}`)));
      for (const [i, v] of values.entries()) assert.ok(read[i].value?.equals(v), `value ${i} (${v.length} bytes)`);
    } finally {
      client.close();
      await mc.stop();
    }
  });
});
