// Bounded inflation (#4, #13): a body's inflated length found once within a limit, and its
// bytes streamed in slices that never go past the length the entry says.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { identityCopyBytes, IDENTITY_COPY_LIMIT, inflateAsync, inflatedLength, inflateSlices, inflateSync, NotInflating } from '../../src/engine/gzip-body.js';
import { entryOf } from '../../src/store/entry-codec.js';

const TEXT = Buffer.from('memfront inflates within bounds. '.repeat(10_000)); // 330 KB
const GZ = zlib.gzipSync(TEXT);

async function all(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of it) parts.push(b);
  return Buffer.concat(parts);
}

describe('inflatedLength', () => {
  it('#4 finds the inflated length of a good body, within the limit', async () => {
    assert.equal(await inflatedLength(GZ, TEXT.length), TEXT.length);
  });

  it('#4 a body inflating past the limit is too-large, found without inflating it all', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(256 << 20)); // 256 MB from ~250 KB
    const t0 = performance.now();
    assert.equal(await inflatedLength(bomb, 1 << 20), 'too-large');
    assert.ok(performance.now() - t0 < 2000, 'stopped at the limit');
  });

  it('#13 plain text, a truncated body, trailing garbage and an empty body are bad-gzip', async () => {
    assert.equal(await inflatedLength(Buffer.from('<html>not gzip</html>'), 1 << 20), 'bad-gzip');
    assert.equal(await inflatedLength(GZ.subarray(0, GZ.length - 10), 1 << 20), 'bad-gzip');
    assert.equal(await inflatedLength(Buffer.concat([GZ, Buffer.from('junk')]), 1 << 20), 'bad-gzip');
    assert.equal(await inflatedLength(Buffer.alloc(0), 1 << 20), 'bad-gzip');
  });
});

describe('inflateSync / inflateAsync', () => {
  it('#4 give the body only when it inflates to exactly the length said', async () => {
    const small = zlib.gzipSync(Buffer.from('small body'));
    assert.equal(inflateSync(small, 10)?.toString(), 'small body');
    assert.equal(inflateSync(small, 9), null);
    assert.equal(inflateSync(small, 11), null);
    assert.deepEqual(await inflateAsync(GZ, TEXT.length), TEXT);
    assert.equal(await inflateAsync(GZ, TEXT.length - 1), null);
    assert.equal(await inflateAsync(Buffer.from('nope'), 4), null);
    assert.throws(() => inflateSync(GZ, TEXT.length), RangeError, 'never a large inflate on the event loop');
  });
});

describe('inflateSlices', () => {
  it('#4 yields the whole body in slices, or any range of it', async () => {
    assert.deepEqual(await all(inflateSlices(GZ, TEXT.length)), TEXT);
    assert.deepEqual(await all(inflateSlices(GZ, TEXT.length, 70_000, 100_000)), TEXT.subarray(70_000, 170_000));
    assert.deepEqual(await all(inflateSlices(GZ, TEXT.length, TEXT.length - 5, 5)), TEXT.subarray(TEXT.length - 5));
  });

  it('#4 #13 stops with NotInflating past the length said, short of it, or on broken gzip', async () => {
    await assert.rejects(all(inflateSlices(GZ, TEXT.length - 1)), NotInflating);
    await assert.rejects(all(inflateSlices(GZ, TEXT.length + 1)), NotInflating);
    await assert.rejects(all(inflateSlices(GZ.subarray(0, GZ.length - 10), TEXT.length)), NotInflating);
    await assert.rejects(all(inflateSlices(Buffer.from('plain'), 5)), NotInflating);
    // A bomb that claims a small length makes no more than that.
    const bomb = zlib.gzipSync(Buffer.alloc(64 << 20));
    let made = 0;
    await assert.rejects(
      (async () => {
        for await (const b of inflateSlices(bomb, 100_000)) made += b.length;
      })(),
      NotInflating,
    );
    assert.ok(made <= 100_000, `${made} bytes made`);
  });
});

describe('identityCopyBytes', () => {
  const base = { status: 200, headers: [], storedAt: 0, staleAt: 1, body: Buffer.alloc(10) };
  it('#4 counts the inflated copy a gzip entry may keep, and none for bodies streamed instead', () => {
    assert.equal(identityCopyBytes(entryOf({ ...base, gzip: true, identityLength: 300_000 })), 300_000);
    assert.equal(identityCopyBytes(entryOf({ ...base, gzip: true, identityLength: IDENTITY_COPY_LIMIT + 1 })), 0);
    assert.equal(identityCopyBytes(entryOf({ ...base, gzip: false })), 0);
  });
});
