// `memfront check`: which servers a config names, the table it prints, and the command run as
// an operator runs it against a real memcached, live and dead HTTP servers and a tracker.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { freePort, listenOn } from '../helpers/listen.js';
import { configFrom } from '../helpers/stack.js';
import { checkTargets, formatCheckTable } from '../../src/check.js';
import { scratchDir, startCli } from './cli-process.js';

describe('checkTargets', () => {
  it('names every memcached server, the backend, trackers, static and reproxy servers', () => {
    const cfg = configFrom({
      cache: { memcached: { servers: ['10.0.0.1:11211', '10.0.0.2:11211'] } },
      backend: { url: 'http://cms.internal:8081/base' },
      mogile: { trackers: ['10.0.0.5:7001'], domain: 'www' },
      static: { servers: ['http://10.0.0.6:8090'] },
      reproxy: { enabled: true, services: { images: ['http://10.0.0.7:8090'] } },
    });
    assert.deepEqual(
      checkTargets(cfg).map((t) => [t.name, t.address, t.kind]),
      [
        ['memcached', '10.0.0.1:11211', 'memcached'],
        ['memcached', '10.0.0.2:11211', 'memcached'],
        ['backend', 'http://cms.internal:8081/', 'http'],
        ['tracker', '10.0.0.5:7001', 'tracker'],
        ['static', 'http://10.0.0.6:8090/', 'http'],
        ['reproxy images', 'http://10.0.0.7:8090/', 'http'],
      ],
    );
  });

  it('skips memcached with the memory store or the cache off, and asks the offload base instead of the backend', () => {
    assert.deepEqual(checkTargets(configFrom({ cache: { store: 'memory' } })).map((t) => t.name), ['backend']);
    assert.deepEqual(checkTargets(configFrom({ cache: { enabled: false } })).map((t) => t.name), ['backend']);
    const offload = checkTargets(configFrom({ cache: { store: 'memory' }, offload: { base: 'http://base.example:8080' } }));
    assert.deepEqual(offload.map((t) => [t.name, t.address]), [['offload base', 'http://base.example:8080/']]);
  });
});

describe('formatCheckTable', () => {
  it('pads columns to fit and says FAIL without a latency', () => {
    const table = formatCheckTable([
      { name: 'memcached', address: '127.0.0.1:11211', kind: 'memcached', ok: true, ms: 0.43, detail: 'memcached 1.6.21' },
      { name: 'backend', address: 'http://127.0.0.1:8081/', kind: 'http', ok: false, ms: 1.2, detail: 'ECONNREFUSED' },
    ]);
    assert.equal(
      table,
      [
        'WHAT       ADDRESS                 RESULT  LATENCY  DETAIL',
        'memcached  127.0.0.1:11211         ok      0.4 ms   memcached 1.6.21',
        'backend    http://127.0.0.1:8081/  FAIL    -        ECONNREFUSED',
        '',
      ].join('\n'),
    );
  });
});

describe('memfront check', () => {
  const scratch = scratchDir();
  let mc: MemcachedProcess;
  let backend: http.Server;
  let backendUrl: string;
  let tracker: net.Server;
  let trackerAddress: string;
  let heads = 0;

  before(async () => {
    mc = await startMemcached();
    backend = http.createServer((req, res) => {
      if (req.method === 'HEAD') heads++;
      res.writeHead(404);
      res.end();
    });
    backendUrl = `http://127.0.0.1:${await listenOn(backend)}`;
    // A tracker on the line protocol: answers `noop` with OK.
    tracker = net.createServer((s) => s.on('data', () => s.write('OK \r\n')));
    trackerAddress = `127.0.0.1:${await listenOn(tracker)}`;
  });

  after(async () => {
    backend?.close();
    tracker?.close();
    await mc?.stop();
    scratch.remove();
  });

  async function check(config: Record<string, unknown>) {
    const run = startCli(['check', '--config', scratch.file(`check-${Math.random()}.json`, config)]);
    const { code } = await run.exited;
    const rows = run.stdout().split('\n').filter((l) => /^\S+( \S+)?\s{2,}\S+\s{2,}(ok|FAIL)\s/.test(l));
    return { code, stdout: run.stdout(), stderr: run.stderr(), rows };
  }

  it('exit 0 and every row ok when all answer', async () => {
    const r = await check({
      cache: { memcached: { servers: [mc.address] } },
      backend: { url: backendUrl },
      mogile: { trackers: [trackerAddress], domain: 'www' },
      static: { servers: [backendUrl] },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.rows.length, 4, r.stdout);
    for (const row of r.rows) assert.match(row, /\s{2}ok\s{2,}\d+\.\d ms\s/);
    assert.match(r.stdout, /memcached\s+127\.0\.0\.1:\d+\s+ok\s+\S+ ms\s+memcached \d/);
    assert.match(r.stdout, /backend\s+http:\/\/127\.0\.0\.1:\d+\/\s+ok\s+\S+ ms\s+HTTP 404/);
    assert.match(r.stdout, /tracker\s+127\.0\.0\.1:\d+\s+ok\s+\S+ ms\s+OK/);
    assert.match(r.stdout, /all 4 answer/);
    assert.equal(heads, 2, 'the backend and the static server were asked with HEAD /');
  });

  it('a dead backend: exit 1, and its row names it with the reason', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await check({ cache: { memcached: { servers: [mc.address] } }, backend: { url: dead } });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.rows.length, 2, r.stdout);
    assert.match(r.rows[0], /^memcached .* ok /);
    assert.match(r.rows[1], new RegExp(`^backend\\s+${dead}/\\s+FAIL\\s+-\\s+ECONNREFUSED$`));
    assert.match(r.stdout, /1 of 2 answer; 1 do not/);
  });

  it('a stopped memcached and a tracker that is not there: exit 1, both named', async () => {
    await mc.stop();
    try {
      const gone = `127.0.0.1:${await freePort()}`;
      const r = await check({ cache: { memcached: { servers: [mc.address] } }, backend: { url: backendUrl }, mogile: { trackers: [gone], domain: 'www' } });
      assert.equal(r.code, 1);
      assert.match(r.stdout, new RegExp(`memcached\\s+${mc.address}\\s+FAIL\\s+-\\s+ECONNREFUSED`));
      assert.match(r.stdout, new RegExp(`tracker\\s+${gone}\\s+FAIL\\s+-\\s+ECONNREFUSED`));
    } finally {
      await mc.restart();
    }
  });

  it('a bad config: exit 2 before anything is asked', async () => {
    const r = await check({ cache: { defaultTtl: -1 } });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^memfront: cache\.defaultTtl: /);
  });
});
