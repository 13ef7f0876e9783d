// /healthz's cache probe: a server is up only when it answers a get in the cache's own
// protocol, not merely `version` (which twemproxy answers while it drops binary gets).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { judgeProbe, probeCacheServer, probeRequest } from '../../src/admin/cache-probe.js';
import { listenOn } from '../helpers/listen.js';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startNutcracker, type NutcrackerProcess } from '../helpers/nutcracker.js';

/** A binary-protocol answer header (and body) as memcached sends it. */
function binaryAnswer(opcode: number, status: number, body = ''): Buffer {
  const b = Buffer.alloc(24 + body.length);
  b[0] = 0x81;
  b[1] = opcode;
  b.writeUInt16BE(status, 6);
  b.writeUInt32BE(body.length, 8);
  b.write(body, 24, 'latin1');
  return b;
}

describe('judging the probe\'s answers', () => {
  it('text: up with VERSION and the get\'s END; down on a refusal; undecided while incomplete', () => {
    const t = (s: string) => judgeProbe('text', Buffer.from(s));
    assert.deepEqual(t('VERSION 1.6.18\r\nEND\r\n'), { ok: true, detail: 'memcached 1.6.18' });
    assert.equal(t('VERSION 1.6.18\r\n'), undefined);
    assert.equal(t('VERSION 1.6'), undefined);
    assert.equal(t('VERSION 1.6.18\r\nSERVER_ERROR no server\r\n')?.ok, false);
    assert.equal(t('ERROR\r\n')?.ok, false);
  });

  it('binary: up with a version and a get answered found or not found; down otherwise', () => {
    const b = (...parts: Buffer[]) => judgeProbe('binary', Buffer.concat(parts));
    const version = binaryAnswer(0x0b, 0, '1.6.18');
    assert.deepEqual(b(version, binaryAnswer(0x00, 1, 'Not found')), { ok: true, detail: 'memcached 1.6.18' });
    assert.equal(b(version, binaryAnswer(0x00, 0x86, 'Temporary failure'))?.ok, false);
    assert.equal(b(version), undefined);
    assert.equal(b(version.subarray(0, 30)), undefined);
    assert.equal(judgeProbe('binary', Buffer.from('VERSION 1.6.18\r\n'))?.ok, false);
  });

  it('asks for the version and the probe key in the protocol given', () => {
    assert.equal(probeRequest('text').toString(), 'version\r\nget memfront:probe\r\n');
    const bin = probeRequest('binary');
    assert.deepEqual([bin[0], bin[1], bin[24], bin[25]], [0x80, 0x0b, 0x80, 0x00]);
  });
});

describe('probing real servers', () => {
  let mcs: MemcachedProcess[];
  let proxy: NutcrackerProcess;
  let versionOnly: net.Server;
  let versionOnlyPort: number;
  before(async () => {
    mcs = await Promise.all([startMemcached(), startMemcached()]);
    proxy = await startNutcracker(mcs.map((m) => m.address));
    // Answers version and nothing else, as twemproxy did for memjs.
    versionOnly = net.createServer((s) => s.once('data', () => s.write('VERSION 1.6.18\r\n')).on('error', () => {}));
    versionOnlyPort = await listenOn(versionOnly);
  });
  after(async () => {
    await new Promise<void>((resolve) => versionOnly.close(() => resolve()));
    await proxy?.stop();
    await Promise.all((mcs ?? []).map((m) => m.stop()));
  });

  it('a memcached is up in either protocol', async () => {
    for (const protocol of ['binary', 'text'] as const) {
      const r = await probeCacheServer(mcs[0].address, protocol, 1000);
      assert.equal(r.ok, true, `${protocol}: ${r.detail}`);
      assert.match(r.detail, /^memcached \d/);
    }
  });

  it('nutcracker is up for the text protocol and down for the binary one', async () => {
    const text = await probeCacheServer(proxy.address, 'text', 1000);
    assert.equal(text.ok, true, text.detail);
    const binary = await probeCacheServer(proxy.address, 'binary', 1000);
    assert.equal(binary.ok, false);
  });

  it('a server that answers only version is down', async () => {
    const r = await probeCacheServer(`127.0.0.1:${versionOnlyPort}`, 'text', 300);
    assert.equal(r.ok, false);
    assert.match(r.detail, /timeout/);
  });
});
