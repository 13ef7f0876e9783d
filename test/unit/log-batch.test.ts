// Log lines gathered per turn of the event loop (log-batch.ts): in order, one write per turn,
// and none lost when the process exits right after logging.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TurnBatch, type LineDestination } from '../../src/log-batch.js';

function recorder() {
  const writes: string[] = [];
  let flushed = 0;
  const dest: LineDestination = {
    write: (s: string) => void writes.push(s),
    flushSync: () => void flushed++,
  };
  return { dest, writes, flushed: () => flushed };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('TurnBatch', () => {
  it('hands the lines of one turn over as one write, in order', async () => {
    const r = recorder();
    const batch = new TurnBatch(r.dest);
    batch.write('a\n');
    batch.write('b\n');
    batch.write('c\n');
    assert.deepEqual(r.writes, [], 'not during the turn');
    await turn();
    assert.deepEqual(r.writes, ['a\nb\nc\n']);
    batch.write('d\n');
    await turn();
    await turn();
    assert.deepEqual(r.writes, ['a\nb\nc\n', 'd\n'], 'a turn with one line: that line');
  });

  it('flushSync hands over what is pending at once and has the destination write it', () => {
    const r = recorder();
    const batch = new TurnBatch(r.dest);
    batch.write('x\n');
    batch.flushSync();
    assert.deepEqual(r.writes, ['x\n']);
    assert.equal(r.flushed(), 1);
  });

  it('loses no line when the process exits right after logging (a real stdout pipe, pino\'s destination)', () => {
    const log = new URL('../../src/log.js', import.meta.url).href;
    const script = `
      import { createLogger } from ${JSON.stringify(log)};
      const logger = createLogger({ level: 'info', pretty: false });
      for (let i = 0; i < 5000; i++) logger.info({ i }, 'request');
      logger.fatal({ i: 5000 }, 'uncaught exception');
      process.exit(1);
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('.', import.meta.url)), maxBuffer: 64 << 20 });
    assert.equal(child.status, 1, child.stderr);
    const lines = child.stdout.trim().split('\n').map((l) => JSON.parse(l) as { i: number; level: number });
    assert.equal(lines.length, 5001);
    lines.forEach((l, n) => assert.equal(l.i, n));
    assert.equal(lines[5000].level, 60);
  });
});
