// The text protocol's requests and reply reader, without a server: every way the bytes of a
// reply can be cut into socket reads, and what a malformed stream does.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseLine, ReplyReader, storageRequest, textKey, type TextReply } from '../../src/store/text-protocol.js';

function collect(): { reader: ReplyReader; replies: TextReply[]; errors: string[] } {
  const replies: TextReply[] = [];
  const errors: string[] = [];
  return { reader: new ReplyReader((r) => replies.push(r), (m) => errors.push(m)), replies, errors };
}

const STREAM = Buffer.concat([
  Buffer.from('VALUE k 0 5 77\r\nhello\r\nEND\r\n'),
  Buffer.from('END\r\nSTORED\r\nNOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\nDELETED\r\nTOUCHED\r\n42\r\nVERSION 1.6.18\r\n'),
  Buffer.from('VALUE e 0 0\r\n\r\nEND\r\n'),
  Buffer.from('VALUE crlf 0 4\r\n\r\n\r\n\r\nEND\r\n'),
  Buffer.from('SERVER_ERROR object too large for cache\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\n'),
]);

const EXPECTED: TextReply[] = [
  { kind: 'value', value: Buffer.from('hello'), cas: '77' },
  { kind: 'end' },
  ...['STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'DELETED', 'TOUCHED'].map((status) => ({ kind: 'status' as const, status })),
  { kind: 'number', value: '42' },
  { kind: 'version', version: '1.6.18' },
  { kind: 'value', value: Buffer.alloc(0), cas: undefined },
  // A value may hold CRLFs of its own: its length says where it ends, not a line end.
  { kind: 'value', value: Buffer.from('\r\n\r\n'), cas: undefined },
  { kind: 'error', message: 'SERVER_ERROR object too large for cache' },
  { kind: 'error', message: 'CLIENT_ERROR bad data chunk' },
  { kind: 'error', message: 'ERROR' },
];

describe('text protocol replies', () => {
  it('reads every kind of reply, the stream in one read', () => {
    const { reader, replies, errors } = collect();
    reader.push(STREAM);
    assert.deepEqual(errors, []);
    assert.deepEqual(replies, EXPECTED);
  });

  it('reads the same replies whichever byte the reads are cut at, one cut or byte by byte', () => {
    for (let cut = 1; cut < STREAM.length; cut++) {
      const { reader, replies, errors } = collect();
      reader.push(STREAM.subarray(0, cut));
      reader.push(STREAM.subarray(cut));
      assert.deepEqual(errors, [], `cut at ${cut}`);
      assert.deepEqual(replies, EXPECTED, `cut at ${cut}`);
    }
    const { reader, replies } = collect();
    for (let i = 0; i < STREAM.length; i++) reader.push(STREAM.subarray(i, i + 1));
    assert.deepEqual(replies, EXPECTED);
  });

  it('reads the same replies when the stream is cut in three reads, at every pair of bytes', () => {
    for (let a = 1; a < STREAM.length; a++) {
      for (let b = a; b < STREAM.length; b++) {
        const { reader, replies, errors } = collect();
        reader.push(STREAM.subarray(0, a));
        reader.push(STREAM.subarray(a, b));
        reader.push(STREAM.subarray(b));
        if (errors.length > 0 || replies.length !== EXPECTED.length) assert.fail(`cut at ${a}, ${b}: ${errors.join()} ${replies.length} replies`);
        assert.deepEqual(replies, EXPECTED, `cut at ${a}, ${b}`);
      }
    }
  });

  it('hands on a value that is most of the read that brought it as a view of that read, without copying', () => {
    const value = randomBytes(50_000);
    const read = Buffer.concat([Buffer.from(`VALUE k 0 ${value.length}\r\n`), value, Buffer.from('\r\nEND\r\nSTORED\r\n')]);
    const { reader, replies } = collect();
    reader.push(read);
    const first = replies[0] as Extract<TextReply, { kind: 'value' }>;
    assert.ok(first.value.equals(value));
    assert.equal(first.value.buffer, read.buffer);
    assert.deepEqual(replies[1], { kind: 'status', status: 'STORED' });
  });

  it('copies out a value that is a small part of its read, so the value does not keep the read alive', () => {
    // Pipelined gets: one 64 KB read brings a small value and a large one.
    const small = randomBytes(100);
    const large = randomBytes(60_000);
    const read = Buffer.concat([
      Buffer.from(`VALUE s 0 ${small.length}\r\n`),
      small,
      Buffer.from(`\r\nEND\r\nVALUE l 0 ${large.length}\r\n`),
      large,
      Buffer.from('\r\nEND\r\n'),
    ]);
    const { reader, replies } = collect();
    reader.push(read);
    const [s, l] = replies as Extract<TextReply, { kind: 'value' }>[];
    assert.ok(s.value.equals(small));
    assert.notEqual(s.value.buffer, read.buffer);
    assert.equal(s.value.buffer.byteLength, small.length, 'memory of its own, of its own size');
    // A copy: changing it leaves the read as it was.
    s.value[0] ^= 0xff;
    assert.ok(read.subarray(read.indexOf('\r\n') + 2, read.indexOf('\r\n') + 2 + small.length).equals(small));
    assert.ok(l.value.equals(large));
    assert.equal(l.value.buffer, read.buffer, 'the large one is most of the read: a view');
  });

  it('reads a value cut across reads into memory of its own, whichever byte the cut is at', () => {
    const value = randomBytes(300);
    const reply = Buffer.concat([Buffer.from(`VALUE k 0 ${value.length} 5\r\n`), value, Buffer.from('\r\nEND\r\n')]);
    const stream = Buffer.concat([Buffer.from('STORED\r\n'), reply, Buffer.from('DELETED\r\n'), reply, Buffer.from('END\r\n')]);
    for (let cut = 1; cut < stream.length; cut++) {
      // Each read in a large buffer of its own, as a socket's would be after a big read.
      const reads = [stream.subarray(0, cut), stream.subarray(cut)].map((r) => {
        const own = Buffer.allocUnsafeSlow(65536);
        r.copy(own);
        return own.subarray(0, r.length);
      });
      const { reader, replies, errors } = collect();
      for (const r of reads) reader.push(r);
      assert.deepEqual(errors, [], `cut at ${cut}`);
      assert.deepEqual(
        replies.map((r) => r.kind),
        ['status', 'value', 'status', 'value', 'end'],
        `cut at ${cut}`,
      );
      for (const r of [replies[1], replies[3]] as Extract<TextReply, { kind: 'value' }>[]) {
        assert.ok(r.value.equals(value), `cut at ${cut}`);
        assert.equal(r.cas, '5');
        assert.ok(!reads.some((read) => read.buffer === r.value.buffer), `cut at ${cut}: shares a read`);
        assert.equal(r.value.buffer.byteLength, value.length, `cut at ${cut}`);
      }
    }
  });

  it('reads a 900 KB value that came in reads of any size into one buffer, joining nothing', () => {
    const value = randomBytes(900 * 1024);
    const stream = Buffer.concat([Buffer.from(`VALUE big 0 ${value.length} 9\r\n`), value, Buffer.from('\r\nEND\r\nEND\r\n')]);
    for (const readSize of [65536, 19456, 1000, 7]) {
      const { reader, replies, errors } = collect();
      // memjs's own reader copied everything so far on every read; this one copies each read
      // once, into the value's buffer, and joins no reads.
      const concat = Buffer.concat;
      let joins = 0;
      Buffer.concat = (list: readonly Uint8Array[], length?: number) => (joins++, concat(list, length));
      try {
        for (let at = 0; at < stream.length; at += readSize) reader.push(stream.subarray(at, at + readSize));
      } finally {
        Buffer.concat = concat;
      }
      assert.deepEqual(errors, []);
      // Only the VALUE line's own few bytes are joined, when reads cut it (7-byte reads).
      assert.ok(joins <= (readSize < 100 ? 10 : 0), `${joins} joins with ${readSize}-byte reads`);
      assert.equal(replies.length, 2);
      const got = replies[0] as Extract<TextReply, { kind: 'value' }>;
      assert.ok(got.value.equals(value), `${readSize}-byte reads`);
      assert.equal(got.cas, '9');
      assert.equal(got.value.buffer.byteLength, value.length, 'a buffer of exactly the value');
      assert.deepEqual(replies[1], { kind: 'end' });
    }
  });

  it('takes a VALUE line of more than 1 GB as a stream out of step, allocating nothing', () => {
    const { reader, replies, errors } = collect();
    reader.push(Buffer.from(`VALUE k 0 ${2 ** 40}\r\nabc`));
    assert.equal(errors.length, 1);
    assert.match(errors[0], /1099511627776 bytes/);
    assert.deepEqual(replies, []);
  });

  it('takes a wrong trailer as a stream out of step wherever the reads cut it', () => {
    const bad = Buffer.from('VALUE k 0 3\r\nabc\r\nEXD\r\nSTORED\r\n');
    for (let cut = 0; cut < bad.length; cut++) {
      const { reader, replies, errors } = collect();
      reader.push(bad.subarray(0, cut));
      reader.push(bad.subarray(cut));
      assert.equal(errors.length, 1, `cut at ${cut}`);
      assert.deepEqual(replies, [], `cut at ${cut}`);
    }
  });

  it('reports a stream out of step once and reads nothing after it', () => {
    for (const bad of ['HELLO\r\nSTORED\r\n', 'VALUE k 0 3\r\nabcdEND\r\nSTORED\r\n', 'VALUE k 0\r\n', `${'x'.repeat(2000)}`]) {
      const { reader, replies, errors } = collect();
      reader.push(Buffer.from(bad));
      reader.push(Buffer.from('STORED\r\n'));
      assert.equal(errors.length, 1, bad.slice(0, 20));
      assert.deepEqual(replies, []);
    }
  });

  it('parses lines', () => {
    assert.deepEqual(parseLine('VALUE a 0 10'), { kind: 'value-header', bytes: 10, cas: undefined });
    assert.deepEqual(parseLine('VALUE a 3 10 18446744073709551615'), { kind: 'value-header', bytes: 10, cas: '18446744073709551615' });
    assert.equal(parseLine('VALUE a 0 -1'), undefined);
    assert.deepEqual(parseLine('18446744073709551615'), { kind: 'number', value: '18446744073709551615' });
  });
});

describe('text protocol requests', () => {
  it('sends printable keys as they are, and any other (or one that looks encoded) base64url behind a marker', () => {
    assert.equal(textKey('mf1:1:abc'), 'mf1:1:abc');
    assert.equal(textKey('a b'), `~b64~${Buffer.from('a b').toString('base64url')}`);
    assert.equal(textKey('ü\t'), `~b64~${Buffer.from('ü\t').toString('base64url')}`);
    // One to one: a key that is itself an encoded form is encoded again.
    const encoded = textKey('a b');
    assert.notEqual(textKey(encoded), encoded);
    assert.match(textKey(encoded), /^[\x21-\x7e]+$/);
  });

  it('writes storage commands with the value as given, not copied', () => {
    const value = Buffer.from('hello');
    const [line, bytes, crlf] = storageRequest('add', 'k', value, 30);
    assert.equal(line, 'add k 0 30 5\r\n');
    assert.equal(bytes, value);
    assert.equal(crlf.toString(), '\r\n');
    assert.equal(storageRequest('cas', 'k', value, 0, '77')[0], 'cas k 0 0 5 77\r\n');
  });
});
