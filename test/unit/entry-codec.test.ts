// The entry envelope: tags and chunk indexes survive a round trip; older versions and
// malformed indexes are recognised.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEntry, encodeEntry, entryOf, ENTRY_VERSION, isOlderEntry, type Entry } from '../../src/store/entry-codec.js';
import { planChunks } from '../../src/store/chunked-entry.js';

const entry = (o: Partial<Entry> = {}): Entry =>
  entryOf({
    status: 200,
    headers: [['Content-Type', 'text/html']],
    storedAt: 1000,
    staleAt: 61_000,
    gzip: false,
    body: Buffer.from('<p>hello</p>'),
    ...o,
  });

describe('entry codec', () => {
  it('round-trips the generations an entry recorded', () => {
    const e = entry({ tags: { 'mf1:t1:host': 17, 'mf1:t1:post-1': 4 } });
    assert.deepEqual(decodeEntry(encodeEntry(e)), e);
  });

  it('round-trips an index item (no body, its chunks named), and never stores the reader', () => {
    const { index } = planChunks(Buffer.alloc(3000, 7), 1000, 'f00d');
    const e = entry({ body: Buffer.alloc(0), chunks: index, readChunk: async () => Buffer.alloc(0) });
    const decoded = decodeEntry(encodeEntry(e));
    assert.deepEqual(decoded?.chunks, index);
    assert.equal(decoded?.readChunk, undefined);
    assert.ok(!encodeEntry(e).toString('latin1').includes('readChunk'));
  });

  it('round-trips the gzip level memfront recorded, and refuses one that is not a level (a planted value)', () => {
    const gz = (level: unknown) => entry({ gzip: true, gzippedHere: true, identityLength: 12, gzipLevel: level as number });
    assert.equal(decodeEntry(encodeEntry(gz(6)))?.gzipLevel, 6);
    assert.equal(decodeEntry(encodeEntry(gz(undefined)))?.gzipLevel, undefined, 'absent: written by a memfront that did not record it');
    for (const bad of [0, 10, 1.5, '6', -1, null]) assert.equal(decodeEntry(encodeEntry(gz(bad))), null, `gzipLevel ${JSON.stringify(bad)}`);
  });

  it('refuses an index item that also carries a body, or a malformed index', () => {
    const { index } = planChunks(Buffer.alloc(3000, 7), 1000, 'f00d');
    assert.equal(decodeEntry(encodeEntry(entry({ chunks: index }))), null);
    assert.equal(decodeEntry(encodeEntry(entry({ body: Buffer.alloc(0), chunks: { ...index, crcs: [1] } }))), null);
    assert.equal(decodeEntry(encodeEntry(entry({ tags: { k: -1 } }))), null);
  });

  it('tells an older version (a miss, not damage) from garbage', () => {
    const value = encodeEntry(entry());
    const older = Buffer.from(value);
    older.writeUInt8(ENTRY_VERSION - 1, 3);
    assert.equal(decodeEntry(older), null);
    assert.equal(isOlderEntry(older), true);
    assert.equal(isOlderEntry(value), false);
    assert.equal(isOlderEntry(Buffer.from('garbage that is long enough')), false);
  });
});

describe('entryOf', () => {
  it('gives decoded, built and renewed entries one property order, whatever they carry', () => {
    const plain = decodeEntry(encodeEntry(entry()))!;
    const tagged = decodeEntry(encodeEntry(entry({ tags: { 'mf1:t1:host': 1 }, etag: '"x"', identityLength: 99, gzip: true })))!;
    const built = entryOf({ ...plain, lastModified: 'Sun, 22 Nov 2026 06:00:00 GMT' });
    assert.deepEqual(Object.keys(plain), Object.keys(tagged));
    assert.deepEqual(Object.keys(plain), Object.keys(built));
    assert.equal(tagged.etag, '"x"');
    assert.equal(plain.etag, undefined);
  });
});

describe('entries Node would refuse to send (#8)', () => {
  // Anyone who can write to memcached can plant these; each must decode as unreadable (a
  // miss), never reach writeHead (a 500).
  const refused: Array<[string, Partial<Entry>]> = [
    ['status 42', { status: 42 }],
    ['status 199', { status: 199 }],
    ['status 600', { status: 600 }],
    ['status 1000', { status: 1000 }],
    ['a value with CR LF', { headers: [['X-Note', 'a\r\nSet-Cookie: session=evil']] }],
    ['a value with a bare LF', { headers: [['X-Note', 'a\nb']] }],
    ['a value with NUL', { headers: [['X-Note', 'a\u0000b']] }],
    ['a value past latin-1', { headers: [['X-Note', 'a\u0100b']] }],
    ['a name with a space', { headers: [['X Note', 'v']] }],
    ['a name with a colon', { headers: [['X-Note:', 'v']] }],
    ['an empty name', { headers: [['', 'v']] }],
    ['an ETag with CR LF (sent upstream in revalidations)', { etag: '"v1"\r\nX-Evil: 1' }],
    ['a Last-Modified with LF', { lastModified: 'Mon, 15 Jan 2024 12:00:00 GMT\nX: 1' }],
    ['a gzip body with no inflated length', { gzip: true, identityLength: undefined }],
    ['a negative inflated length', { gzip: true, identityLength: -1 }],
  ];
  for (const [name, o] of refused) {
    it(`#8 refuses ${name}`, () => {
      assert.equal(decodeEntry(encodeEntry(entry(o))), null);
    });
  }

  it('#8 keeps what Node sends: 200-599, tokens, tabs and latin-1 in values', () => {
    for (const status of [200, 301, 404, 599]) assert.equal(decodeEntry(encodeEntry(entry({ status })))?.status, status);
    const headers: Array<[string, string]> = [['X-Odd_Name!#$%&\'*+.^`|~', 'tab\there, caf\u00e9']];
    assert.deepEqual(decodeEntry(encodeEntry(entry({ headers })))?.headers, headers);
    assert.equal(decodeEntry(encodeEntry(entry({ gzip: true, identityLength: 0 })))?.identityLength, 0);
  });
});
