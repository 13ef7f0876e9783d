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

  it('hands on a value that came in one read as a view of that read, without copying', () => {
    const { reader, replies } = collect();
    const read = Buffer.from('VALUE k 0 3\r\nabc\r\nEND\r\nSTORED\r\n');
    reader.push(read);
    const first = replies[0] as Extract<TextReply, { kind: 'value' }>;
    assert.equal(first.value.buffer, read.buffer);
    assert.deepEqual(replies[1], { kind: 'status', status: 'STORED' });
  });

  it('joins a 900 KB value that came in 64 KB reads once, byte for byte', () => {
    const value = randomBytes(900 * 1024);
    const stream = Buffer.concat([Buffer.from(`VALUE big 0 ${value.length} 9\r\n`), value, Buffer.from('\r\nEND\r\nEND\r\n')]);
    const { reader, replies } = collect();
    // Counts the joins: memjs's own reader copied everything so far on every read.
    const concat = Buffer.concat;
    let joins = 0;
    Buffer.concat = (list: readonly Uint8Array[], length?: number) => (joins++, concat(list, length));
    try {
      for (let at = 0; at < stream.length; at += 65536) reader.push(stream.subarray(at, at + 65536));
    } finally {
      Buffer.concat = concat;
    }
    assert.equal(joins, 1);
    assert.equal(replies.length, 2);
    const got = replies[0] as Extract<TextReply, { kind: 'value' }>;
    assert.ok(got.value.equals(value));
    assert.equal(got.value.buffer.byteLength, value.length, 'a buffer of exactly the value');
    assert.deepEqual(replies[1], { kind: 'end' });
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
