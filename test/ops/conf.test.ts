// The files in conf/ are what operators copy: every JSON one must load as it is, say what its
// name promises, and the systemd unit must run the bin the way the contract says.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.js';
import { compileGlobs } from '../../src/policy/glob.js';
import { compileUrlRules } from '../../src/policy/url-rules.js';

const confDir = fileURLToPath(new URL('../../../conf/', import.meta.url));
const docs = readFileSync(fileURLToPath(new URL('../../../docs/operations.md', import.meta.url)), 'utf8');
// The Grafana dashboard is JSON too, but no config (dashboard-alerts.test.ts checks it).
const jsonFiles = readdirSync(confDir).filter((f) => f.endsWith('.json') && f !== 'grafana-dashboard.json').sort();
const load = (name: string) => loadConfig({ file: confDir + name, args: [], env: {} });

// CONTRACT.md "Default session cookies". Spelled out rather than read from the schema: a site
// config must stay this strict even while it lists its cookies itself.
const CONTRACT_DEFAULT_SESSION_COOKIES = [
  'PHPSESSID', 'sessionid', 'JSESSIONID', 'connect.sid', 'laravel_session', '*_session', 'SESS*', 'SSESS*',
  'wordpress_logged_in_*', 'wordpress_sec_*', 'wp-postpass_*', 'comment_author_*', 'woocommerce_*', 'wp_woocommerce_session_*',
];

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

  it("wordpress.json keeps every cookie of the contract's default list, and WooCommerce's cart and session", () => {
    const cookies = load('wordpress.json').cache.sessionCookies;
    assert.deepEqual(CONTRACT_DEFAULT_SESSION_COOKIES.filter((c) => !cookies.includes(c)), [], 'not weaker than the default');
    const session = compileGlobs(cookies);
    for (const cookie of ['woocommerce_items_in_cart', 'woocommerce_cart_hash', 'wp_woocommerce_session_0123abcd']) {
      assert.ok(session(cookie), `${cookie} bypasses the cache`);
    }
  });

  it('wordpress.json passes what a Varnish WordPress/WooCommerce VCL passes, and caches the rest', () => {
    const cfg = load('wordpress.json');
    const ruleFor = compileUrlRules(cfg.cache.rules, cfg.cache.maxTtl);
    const passed = [
      '/wp-admin/', '/wp-admin', '/wp-admin/admin-ajax.php?action=heartbeat', '/blog/wp-admin/edit.php',
      '/wp-login.php', '/wp-login.php?action=lostpassword', '/xmlrpc.php', '/wp-cron.php?doing_wp_cron=1',
      '/?p=42&preview=true', '/2024/05/draft/?preview_id=42&preview_nonce=abc',
      '/cart/', '/checkout/order-received/12/?key=wc_order_x', '/my-account/orders/', '/cart',
      '/?add-to-cart=12', '/shop/?add-to-cart=12&quantity=2', '/?wc-ajax=get_refreshed_fragments', '/wc-api/WC_Gateway_Paypal/',
      '/wp-json/wc/store/v1/cart', '/?rest_route=/wc/store/v1/cart',
    ];
    for (const url of passed) assert.deepEqual(ruleFor(url), { pass: true }, url);
    const cached = ['/', '/2024/05/hello-world/', '/how-to-secure-wp-admin/', '/shop/', '/product/mug/', '/cartography/', '/wp-json/wp/v2/posts', '/?s=mug'];
    for (const url of cached) assert.equal(ruleFor(url), undefined, url);
    for (const url of ['/feed/', '/category/news/feed/', '/comments/feed', '/?feed=rss2']) assert.deepEqual(ruleFor(url), { ttl: 300 }, url);
    assert.deepEqual(ruleFor('/wp-content/themes/x/style.css?ver=6.5'), { ttl: 86400 });
    assert.deepEqual(ruleFor('/wp-content/uploads/2024/05/a.jpg'), { ttl: 86400 });
    assert.equal(ruleFor('/wp-content/uploads/report.pdf'), undefined);
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

  it('runs the bin a release installs into /opt/memfront, with the config in /etc/memfront', () => {
    // `npm install -g --prefix /opt/memfront` puts the bin in /opt/memfront/bin (tarball-install.test.ts).
    assert.deepEqual(directive('ExecStart'), ['/opt/memfront/bin/memfront --config /etc/memfront/config.json']);
  });

  it('is hardened: systemd-analyze security rates its exposure below 3.0', (t) => {
    const analyze = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=30', confDir + 'memfront.service'], { encoding: 'utf8' });
    if (analyze.error || /unrecognized option|unknown option/i.test(analyze.stderr)) {
      t.skip('systemd-analyze with --offline (systemd >= 250) is not installed');
      return;
    }
    const score = /Overall exposure level for memfront\.service: ([\d.]+)/.exec(analyze.stdout);
    assert.ok(score, `a score in: ${analyze.stdout.slice(-300)}${analyze.stderr}`);
    assert.ok(Number(score[1]) < 3, `exposure ${score[1]}`);
    assert.equal(analyze.status, 0, 'within --threshold=30 (3.0)');
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
