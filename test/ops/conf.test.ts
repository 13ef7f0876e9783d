// The files in conf/ are what operators copy: every JSON one must load as it is, say what its
// name promises, and the systemd unit must run the bin the way the contract says.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.js';
import { compileGlobs } from '../../src/policy/glob.js';

const confDir = fileURLToPath(new URL('../../../conf/', import.meta.url));
const docs = readFileSync(fileURLToPath(new URL('../../../docs/operations.md', import.meta.url)), 'utf8');
const jsonFiles = readdirSync(confDir).filter((f) => f.endsWith('.json')).sort();
const load = (name: string) => loadConfig({ file: confDir + name, args: [], env: {} });

describe('conf/*.json', () => {
  it('holds the examples the docs describe', () => {
    for (const name of ['example.json', 'wordpress.json', 'generic-cms.json', 'mogilefs-media.json', 'scale-out.json', 'scale-out-twemproxy.json', 'scale-out-mcrouter.json']) {
      assert.ok(jsonFiles.includes(name), `conf/${name} exists`);
    }
  });

  for (const name of jsonFiles) {
    it(`${name} loads with loadConfig, and docs/operations.md describes it`, () => {
      assert.doesNotThrow(() => load(name));
      assert.ok(docs.includes(`conf/${name}`), `docs/operations.md mentions conf/${name}`);
    });
  }

  it('wordpress.json treats WordPress login, post-password and commenter cookies as sessions', () => {
    const cfg = load('wordpress.json');
    const session = compileGlobs(cfg.cache.sessionCookies);
    for (const cookie of ['wordpress_logged_in_0123abcd', 'wordpress_sec_0123abcd', 'wp-postpass_0123abcd', 'comment_author_0123abcd', 'comment_author_email_0123abcd']) {
      assert.ok(session(cookie), `${cookie} bypasses the cache`);
    }
    for (const cookie of ['wordpress_test_cookie', '_ga', 'wp-settings-time-1']) assert.ok(!session(cookie), `${cookie} is no session`);
    // Stock WordPress sends no freshness on anonymous pages: defaultTtl rules them.
    assert.ok(cfg.cache.defaultTtl > 0);
    assert.equal(cfg.cache.honorCacheControl, true, "wp-admin and wp-login.php's no-cache headers are honoured");
  });

  it('mogilefs-media.json routes media to the trackers and assets to the static servers', () => {
    const cfg = load('mogilefs-media.json');
    assert.deepEqual(cfg.routes.map((r) => r.to), ['mogile', 'static']);
    assert.ok(cfg.mogile.trackers.length > 0 && cfg.mogile.domain !== '');
    assert.ok(cfg.reproxy.enabled);
  });

  it('the scale-out configs run one worker per core, share a memcached pool and trust their load balancers', () => {
    const pool = load('scale-out.json');
    assert.equal(pool.workers, 0);
    assert.ok(pool.cache.memcached.servers.length >= 2, 'several memcached servers, consistently hashed');
    assert.ok(pool.trustedProxies.length > 0);
    assert.ok(!pool.admin.purgeAllow.some((cidr) => pool.trustedProxies.includes(cidr)), 'a load balancer may not PURGE');
    // The proxies forward only memcached's text protocol.
    const viaTwemproxy = load('scale-out-twemproxy.json');
    assert.deepEqual([viaTwemproxy.cache.memcached.servers, viaTwemproxy.cache.memcached.protocol], [['127.0.0.1:22121'], 'text'], 'a local nutcracker');
    const viaMcrouter = load('scale-out-mcrouter.json');
    assert.deepEqual([viaMcrouter.cache.memcached.servers, viaMcrouter.cache.memcached.protocol], [['127.0.0.1:5000'], 'text'], 'a local mcrouter');
  });
});

describe('conf/memfront.service', () => {
  const unit = readFileSync(confDir + 'memfront.service', 'utf8');
  const directive = (name: string) => unit.split('\n').filter((l) => l.startsWith(`${name}=`)).map((l) => l.slice(name.length + 1));

  it('runs the bin itself with the config in /etc/memfront', () => {
    const [exec] = directive('ExecStart');
    assert.match(exec, /^\/\S*node_modules\/\.bin\/memfront --config \/etc\/memfront\/config\.json$/);
  });

  it('stops with SIGTERM, reloads with SIGHUP, restarts on failure but not on a bad config', () => {
    assert.deepEqual(directive('KillSignal'), ['SIGTERM']);
    assert.deepEqual(directive('ExecReload'), ['/bin/kill -HUP $MAINPID']);
    assert.deepEqual(directive('Restart'), ['on-failure']);
    assert.deepEqual(directive('RestartPreventExitStatus'), ['2']);
    const stopS = Number(directive('TimeoutStopSec')[0]);
    assert.ok(stopS * 1000 > load('example.json').shutdownGraceMs + 5000, 'systemd waits longer than memfront drains');
  });
});
