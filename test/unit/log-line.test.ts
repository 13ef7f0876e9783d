// The access line written straight to the destination must be the line pino would write.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { createLogger, logRequest, type RequestFacts } from '../../src/log.js';
import { hundredths, str } from '../../src/log-line.js';

/** A destination keeping each write as it came. */
function capture(): { stream: { write(s: string): void }; writes: string[] } {
  const writes: string[] = [];
  return { stream: { write: (s: string) => void writes.push(s) }, writes };
}

/** Counts the lines pino serialises itself (its asJson), to tell the two paths apart. */
function countPinoLines(logger: pino.Logger): { n: number } {
  const counter = { n: 0 };
  const l = logger as unknown as Record<symbol, (...a: unknown[]) => string>;
  const asJson = l[pino.symbols.asJsonSym];
  l[pino.symbols.asJsonSym] = function (this: unknown, ...a: unknown[]) {
    counter.n++;
    return asJson.apply(this, a);
  };
  return counter;
}

const base: RequestFacts = { method: 'GET', url: '/a?b=1', status: 200, cache: 'hit', route: 'backend', ms: 1.25, bytes: 512 };
const hostile = '"\\\u0000\u001f\u007f</script>\u2028\u00e9\ud83d\ude00';
const cases: RequestFacts[] = [
  base,
  { ...base, reqId: 'r-1', detail: 'coalesced', ip: '203.0.113.9', host: 'example.com', ua: 'curl/8', referer: 'http://r/', upstreamMs: 12.5, ttl: 30, age: 4 },
  { ...base, method: 'PURGE', cache: 'none', ip: '127.0.0.1', purge: 'tags' },
  { ...base, method: 'PURGE', cache: 'none', purge: 'path' },
  { ...base, url: '/' + 'x'.repeat(5000) + hostile, ua: hostile, referer: hostile, host: hostile, reqId: hostile },
  { ...base, ms: Number.NaN, bytes: Number.POSITIVE_INFINITY, ttl: 0, age: 0 },
  { ...base, url: '/\ud800', ua: 'a\udfffb' },
];
/** Lone surrogates: JSON.stringify escapes them, pino's own escaping of a short string writes them raw. */
const loneSurrogates = cases[cases.length - 1];

/** The same line with its time taken out: the two are written a moment apart. */
const untimed = (line: string) => line.replace(/,"time":\d+/, '');

test('the direct line is pino\'s line for the same facts, to the byte, hostile strings included', () => {
  for (const facts of cases) {
    const direct = capture();
    const logger = createLogger({ level: 'info', pretty: false }, direct.stream);
    const pinoLines = countPinoLines(logger);
    logRequest(logger, facts);
    assert.equal(pinoLines.n, 0, 'the info line went through pino');
    // A mixin makes logRequest leave the line to pino; an empty one adds nothing.
    const viaPino = capture();
    const pinoLogger = pino({ level: 'info', mixin: () => ({}) }, viaPino.stream);
    const laidOutByPino = countPinoLines(pinoLogger);
    logRequest(pinoLogger, facts);
    assert.equal(laidOutByPino.n, 1);
    assert.equal(direct.writes.length, 1);
    assert.ok(direct.writes[0].endsWith('"msg":"request"}\n'));
    assert.deepEqual(JSON.parse(direct.writes[0]), { ...JSON.parse(viaPino.writes[0]), time: JSON.parse(direct.writes[0]).time });
    if (facts !== loneSurrogates) assert.equal(untimed(direct.writes[0]), untimed(viaPino.writes[0]));
  }
});

test('the direct line carries the logger\'s time, pid and hostname, and a child\'s bindings', () => {
  const out = capture();
  const logger = createLogger({ level: 'info', pretty: false }, out.stream).child({ worker: 2 });
  const before = Date.now();
  logRequest(logger, base);
  const line = JSON.parse(out.writes[0]);
  assert.equal(line.level, 30);
  assert.ok(line.time >= before && line.time <= Date.now());
  assert.equal(line.pid, process.pid);
  assert.equal(typeof line.hostname, 'string');
  assert.equal(line.worker, 2);
});

test('a line with an error, and a logger pino must lay out itself, go through pino', () => {
  const out = capture();
  const logger = createLogger({ level: 'info', pretty: false }, out.stream);
  const pinoLines = countPinoLines(logger);
  logRequest(logger, { ...base, status: 502, cache: 'miss', err: new Error('reset') });
  assert.equal(pinoLines.n, 1);
  assert.equal(JSON.parse(out.writes[0]).err.message, 'reset');

  // pino.multistream routes by the level it is told beside the line: the direct path would not tell it.
  const info = capture();
  const warn = capture();
  const multi = pino({ level: 'info' }, pino.multistream([{ level: 'info', stream: info.stream }, { level: 'warn', stream: warn.stream }]));
  logRequest(multi, base);
  logRequest(multi, { ...base, err: new Error('x') });
  assert.equal(info.writes.length, 2);
  assert.equal(warn.writes.length, 1);
  assert.equal(JSON.parse(warn.writes[0]).level, 40);
});

test('a level above info writes no request line, and lowering it again does', () => {
  const out = capture();
  const logger = createLogger({ level: 'warn', pretty: false }, out.stream);
  logRequest(logger, base);
  assert.equal(out.writes.length, 0);
  logger.level = 'info';
  logRequest(logger, base);
  assert.equal(out.writes.length, 1);
});

test('durations are written as String() writes them rounded to hundredths', () => {
  for (let n = 0; n < 200_000; n++) {
    const x = n / 100;
    assert.equal(hundredths(x), String(x), `${x}`);
    const raw = n / 100 + 0.004;
    assert.equal(hundredths(raw), String(Math.round(raw * 100) / 100), `${raw}`);
  }
  for (const x of [1e13 + 0.25, 123456789.01, 0.005, 0.015, 2.675]) assert.equal(hundredths(x), String(Math.round(x * 100) / 100), `${x}`);
  assert.equal(hundredths(Number.NaN), 'null');
  assert.equal(hundredths(Number.POSITIVE_INFINITY), 'null');
});

test('a string is quoted as JSON.stringify quotes it, whatever it holds', () => {
  const samples = ['', '/a?b=1', 'Mozilla/5.0 (X11; Linux x86_64)', '"', '\\', '\u0000', '\u001f', '\u007f', '\u0080', '\u2028', '\ud800', '\udfff', '\ud83d\ude00', '/x?q=</script>', "'"];
  for (let c = 0; c < 0x10000; c += 7) samples.push(`a${String.fromCharCode(c)}b`);
  for (const s of samples) assert.equal(str(s), JSON.stringify(s), JSON.stringify(s));
});
