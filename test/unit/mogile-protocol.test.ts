// Table tests for the MogileFS tracker line protocol: the exact request line for odd keys,
// and what each kind of reply line means.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeGetPaths, escapeArg, parseArgs, parseReply, pathsFrom, unescapeArg } from '../../src/policy/mogile-protocol.js';

const line = (key: string, o: { domain?: string; pathcount?: number; noverify?: boolean } = {}) =>
  encodeGetPaths({ domain: o.domain ?? 'www', key, noverify: o.noverify ?? true, pathcount: o.pathcount ?? 2 });

// Expected lines written out by hand from MogileFS::Backend's _escape_url_string rules.
const keys: Array<{ name: string; key: string; wire: string }> = [
  { name: 'plain path', key: 'images/logo.png', wire: 'images/logo.png' },
  { name: 'safe punctuation kept', key: 'a_b,c-d.e/f:g', wire: 'a_b,c-d.e/f:g' },
  { name: 'space as +', key: 'my file.jpg', wire: 'my+file.jpg' },
  { name: 'a literal + escaped', key: 'a+b', wire: 'a%2Bb' },
  { name: '& and = escaped', key: 'a&key=evil', wire: 'a%26key%3Devil' },
  { name: '% escaped', key: '100%.txt', wire: '100%25.txt' },
  { name: 'already percent-encoded text escaped again', key: 'a%20b', wire: 'a%2520b' },
  { name: 'CR and LF escaped', key: 'a\r\nget_paths x', wire: 'a%0D%0Aget_paths+x' },
  { name: 'lone LF escaped', key: 'x\ny', wire: 'x%0Ay' },
  { name: 'NUL and DEL escaped', key: '\u0000\u007f', wire: '%00%7F' },
  { name: 'unicode as UTF-8 bytes', key: 'café/日本', wire: 'caf%C3%A9/%E6%97%A5%E6%9C%AC' },
  { name: 'astral plane', key: '😀', wire: '%F0%9F%98%80' },
  { name: 'backslash, quote, tilde, question mark, hash', key: '\\"~?#', wire: '%5C%22%7E%3F%23' },
  { name: 'empty key', key: '', wire: '' },
];

for (const c of keys) {
  test(`encodeGetPaths: ${c.name}`, () => {
    const l = line(c.key);
    assert.equal(l, `get_paths domain=www&key=${c.wire}&noverify=1&pathcount=2\r\n`);
    // Exactly one line: the only CR and LF are the terminator.
    assert.equal(l.indexOf('\r'), l.length - 2);
    assert.equal(l.indexOf('\n'), l.length - 1);
    assert.match(l.slice(0, -2), /^[\x21-\x7e ]+$/, 'only printable ASCII on the wire');
  });
  test(`unescapeArg reverses escapeArg: ${c.name}`, () => {
    assert.equal(unescapeArg(escapeArg(c.key)), c.key);
  });
}

test('encodeGetPaths: domain escaped too, pathcount and noverify as given', () => {
  assert.equal(line('k', { domain: 'my domain&x', pathcount: 5 }), 'get_paths domain=my+domain%26x&key=k&noverify=1&pathcount=5\r\n');
  assert.equal(line('k', { noverify: false }), 'get_paths domain=www&key=k&noverify=0&pathcount=2\r\n');
});

test('encodeGetPaths: a pathcount below 1 or fractional becomes a whole number of at least 1', () => {
  assert.match(line('k', { pathcount: 0 }), /&pathcount=1\r\n$/);
  assert.match(line('k', { pathcount: 3.7 }), /&pathcount=3\r\n$/);
});

const decodes: Array<{ name: string; text: string; want: string }> = [
  { name: '+ is a space', text: 'a+b', want: 'a b' },
  { name: '%2B is a plus, not a space', text: 'a%2Bb', want: 'a+b' },
  { name: 'lower-case hex', text: '%c3%a9', want: 'é' },
  { name: 'stray % kept', text: '100%', want: '100%' },
  { name: '% with non-hex kept', text: '%G1x', want: '%G1x' },
  { name: '% with one digit at the end kept', text: 'a%4', want: 'a%4' },
  { name: 'encoded % then digits stays literal', text: '%2541', want: '%41' },
];
for (const c of decodes) {
  test(`unescapeArg: ${c.name}`, () => assert.equal(unescapeArg(c.text), c.want));
}

const replies: Array<{ name: string; line: string; want: ReturnType<typeof parseReply> }> = [
  {
    name: 'two paths',
    line: 'OK paths=2&path1=http://10.0.0.1:7500/dev1/0/000/000/0000000123.fid&path2=http://10.0.0.2:7500/dev2/0/000/000/0000000123.fid\r\n',
    want: {
      ok: true,
      args: {
        paths: '2',
        path1: 'http://10.0.0.1:7500/dev1/0/000/000/0000000123.fid',
        path2: 'http://10.0.0.2:7500/dev2/0/000/000/0000000123.fid',
      },
    },
  },
  {
    name: 'escaped values decoded',
    line: 'OK paths=1&path1=http%3A%2F%2Fh%3A7500%2Fa+b%2Bc.fid',
    want: { ok: true, args: { paths: '1', path1: 'http://h:7500/a b+c.fid' } },
  },
  { name: 'no line end', line: 'OK paths=0', want: { ok: true, args: { paths: '0' } } },
  { name: 'LF only', line: 'OK paths=0\n', want: { ok: true, args: { paths: '0' } } },
  { name: 'old trackers put a length first', line: 'OK 7 paths=0\r\n', want: { ok: true, args: { paths: '0' } } },
  { name: 'OK with nothing', line: 'OK\r\n', want: { ok: true, args: {} } },
  { name: 'OK and a space', line: 'OK \r\n', want: { ok: true, args: {} } },
  { name: 'unknown key', line: 'ERR unknown_key unknown_key\r\n', want: { ok: false, code: 'unknown_key', message: 'unknown_key' } },
  { name: 'error text decoded', line: 'ERR domain_not_found Domain+not+found\r\n', want: { ok: false, code: 'domain_not_found', message: 'Domain not found' } },
  { name: 'error without text', line: 'ERR no_devices\r\n', want: { ok: false, code: 'no_devices', message: 'no_devices' } },
  { name: 'HTTP is not a tracker', line: 'HTTP/1.1 400 Bad Request\r\n', want: null },
  { name: 'empty line', line: '\r\n', want: null },
  { name: 'OK glued to text', line: 'OKAY paths=0\r\n', want: null },
  { name: 'ERR without a code', line: 'ERR\r\n', want: null },
];
for (const c of replies) {
  test(`parseReply: ${c.name}`, () => {
    const got = parseReply(c.line);
    // args is null-prototype; compare its contents.
    assert.deepEqual(got && got.ok ? { ...got, args: { ...got.args } } : got, c.want);
  });
}

test('parseArgs: empty pairs skipped, a name without = gets an empty value, __proto__ is just a name', () => {
  const a = parseArgs('&a=1&&flag&__proto__=x&b=');
  assert.deepEqual({ ...a }, { a: '1', flag: '', ['__proto__']: 'x', b: '' });
  assert.equal(Object.getPrototypeOf(a), null);
});

const pathLists: Array<{ name: string; args: Record<string, string>; want: string[] }> = [
  { name: 'in order', args: { paths: '2', path2: 'http://b/2', path1: 'http://a/1' }, want: ['http://a/1', 'http://b/2'] },
  { name: 'none', args: { paths: '0' }, want: [] },
  { name: 'no count', args: { path1: 'http://a/1' }, want: [] },
  { name: 'count beyond the paths sent', args: { paths: '3', path1: 'http://a/1' }, want: ['http://a/1'] },
  { name: 'paths beyond the count ignored', args: { paths: '1', path1: 'http://a/1', path2: 'http://b/2' }, want: ['http://a/1'] },
  { name: 'garbage count', args: { paths: '2x', path1: 'http://a/1' }, want: [] },
  { name: 'empty path skipped', args: { paths: '2', path1: '', path2: 'http://b/2' }, want: ['http://b/2'] },
];
for (const c of pathLists) {
  test(`pathsFrom: ${c.name}`, () => assert.deepEqual(pathsFrom(c.args), c.want));
}

test('pathsFrom over a parsed reply', () => {
  const r = parseReply('OK paths=2&path1=http://a:7500/x.fid&path2=http://b:7500/x.fid\r\n');
  assert.ok(r && r.ok);
  assert.deepEqual(pathsFrom(r.args), ['http://a:7500/x.fid', 'http://b:7500/x.fid']);
});
