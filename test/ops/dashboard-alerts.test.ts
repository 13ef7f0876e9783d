// conf/grafana-dashboard.json and conf/alerts.yml read only series memfront really exposes:
// a renamed metric would otherwise leave a panel empty and an alert silent, with nothing to
// say so. (promtool check rules validates alerts.yml where Prometheus is installed; this test
// does not need it.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { get, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';
import { parsePrometheusText } from './prom-text.js';

const conf = (name: string) => readFileSync(fileURLToPath(new URL(`../../../conf/${name}`, import.meta.url)), 'utf8');

/** Metric names in PromQL text: identifiers that are neither functions, keywords nor label names. */
function metricNames(promql: string): string[] {
  const stripped = promql
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '{}') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges, Grafana's $__rate_interval among them
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // grouping labels
  const words = stripped.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  const notMetrics = new Set(['sum', 'min', 'max', 'avg', 'count', 'rate', 'increase', 'irate', 'histogram_quantile', 'time', 'and', 'or', 'unless', 'offset', 'd', 'h', 'm', 's', 'bool']);
  return [...new Set(words.filter((w) => !notMetrics.has(w) && /[a-z]_[a-z]/.test(w)))];
}

/** A sample name's family: histograms are read through _bucket, _sum and _count. */
function family(name: string, types: Map<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && types.get(base) === 'histogram') return base;
  }
  return name;
}

function alertRules(yaml: string): Array<{ alert: string; expr: string }> {
  // The file's shape is fixed (groups → rules, each `- alert:` then `expr:` inline or as a block).
  const rules: Array<{ alert: string; expr: string }> = [];
  const lines = yaml.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const a = /^\s*- alert: (\S+)/.exec(lines[i]);
    if (!a) continue;
    let j = i + 1;
    while (j < lines.length && !/^\s*expr:/.test(lines[j])) j++;
    const inline = /^\s*expr:\s*(.*)$/.exec(lines[j])![1];
    let expr = inline;
    if (inline === '|' || inline === '>-' || inline === '>') {
      const indent = /^(\s*)/.exec(lines[j + 1])![1].length;
      const block: string[] = [];
      for (let k = j + 1; k < lines.length && (lines[k].trim() === '' || /^(\s*)/.exec(lines[k])![1].length >= indent); k++) block.push(lines[k]);
      expr = block.join('\n');
    }
    rules.push({ alert: a[1], expr });
  }
  return rules;
}

describe('the dashboard and the alert rules', () => {
  let backend: FakeBackend;
  let stack: Stack;
  let types: Map<string, string>;

  before(async () => {
    backend = await startBackend();
    stack = await startStack({ backend: { url: backend.url }, cache: { store: 'memory' } });
    types = parsePrometheusText((await get(`http://127.0.0.1:${stack.mf.adminPort}/metrics`)).body.toString()).types;
  });

  after(async () => {
    await stack?.close();
    await backend?.close();
  });

  it('alerts.yml has the five alerts, and every metric they read is in /metrics', () => {
    const rules = alertRules(conf('alerts.yml'));
    assert.deepEqual(rules.map((r) => r.alert).sort(), ['MemfrontBackendDown', 'MemfrontHigh5xxRate', 'MemfrontHitRatioDrop', 'MemfrontMemcachedDown', 'MemfrontReloadFailed']);
    for (const r of rules) {
      const names = metricNames(r.expr);
      assert.ok(names.length > 0, `${r.alert}: no metric found in ${r.expr}`);
      for (const n of names) assert.ok(types.has(family(n, types)), `${r.alert}: ${n} is not in /metrics`);
    }
  });

  it('every dashboard panel has a query, and every metric the queries read is in /metrics', () => {
    const dash = JSON.parse(conf('grafana-dashboard.json'));
    const panels = (dash.panels as Array<Record<string, any>>).filter((p) => p.type !== 'row');
    assert.ok(panels.length >= 20, `${panels.length} panels`);
    assert.equal(new Set(dash.panels.map((p: { id: number }) => p.id)).size, dash.panels.length, 'panel ids unique');
    const used = new Set<string>();
    for (const p of panels) {
      assert.ok(p.targets?.length > 0, `${p.title}: no query`);
      for (const t of p.targets) for (const n of metricNames(t.expr)) used.add(n);
    }
    for (const n of used) assert.ok(types.has(family(n, types)), `${n} is not in /metrics`);
    for (const needed of ['memfront_responses_total', 'memfront_cache_hits_total', 'memfront_upstream_duration_seconds_bucket', 'memfront_l1_bytes', 'memfront_purges_total', 'memfront_stale_responses_total']) {
      assert.ok(used.has(needed), `the dashboard shows ${needed}`);
    }
  });

  it('the name reader finds metric names and nothing else', () => {
    assert.deepEqual(
      metricNames('histogram_quantile(0.5, sum by (le, route) (rate(memfront_upstream_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))'),
      ['memfront_upstream_duration_seconds_bucket'],
    );
    assert.deepEqual(metricNames('min by (instance, server) (memfront_cache_server_up) == 0 or up_time_x offset 1d'), ['memfront_cache_server_up', 'up_time_x']);
  });
});
