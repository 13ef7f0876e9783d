// Reading /proc: stat lines whose command holds spaces and parentheses, VmRSS, and a sampler
// that watches a real child process burn CPU.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseProcStat, parseRssBytes, startProcSampler } from '../../bench/lib/proc-sampler.js';

test('a stat line, even with ") (" in the command name', () => {
  const line = '4242 (node (worker) x) S 4200 4242 4242 0 -1 4194560 2100 0 0 0 150 37 0 0 20 0 11 0 12345 1163132928 61565 18446744073709551615';
  assert.deepEqual(parseProcStat(line), { pid: 4242, ppid: 4200, ticks: 187, userTicks: 150, systemTicks: 37 });
  assert.equal(parseProcStat('garbage'), undefined);
});

test('VmRSS in bytes', () => {
  assert.equal(parseRssBytes('Name:\tnode\nVmPeak:\t  900 kB\nVmRSS:\t  246260 kB\nThreads:\t11\n'), 246260 * 1024);
  assert.equal(parseRssBytes('Name:\tkthreadd\n'), undefined);
});

test('the sampler sees a busy child use CPU and memory (Linux); elsewhere it reports nothing', async () => {
  const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 1500; while (Date.now() < end) {}'], { stdio: 'ignore' });
  try {
    await once(child, 'spawn');
    const sampler = startProcSampler(child.pid!, { intervalMs: 100 });
    await sleep(800);
    const usage = sampler.stop();
    if (process.platform !== 'linux') {
      assert.equal(usage, undefined);
      return;
    }
    assert.ok(usage, 'a usage report');
    assert.ok(usage.peakRssBytes > 5 * 1024 * 1024, `peak RSS ${usage.peakRssBytes}`);
    // Loose bounds: on a busy machine the child gets only a share of a core.
    assert.ok(usage.cpuSeconds > 0.05, `cpu ${usage.cpuSeconds} s`);
    // A loop that makes no system calls spends its time in its own code.
    assert.ok(usage.userSeconds > usage.systemSeconds, `user ${usage.userSeconds} s, system ${usage.systemSeconds} s`);
    assert.ok(Math.abs(usage.userSeconds + usage.systemSeconds - usage.cpuSeconds) < 1e-9);
    assert.ok(usage.cpuPercent > 5 && usage.cpuPercent < 150, `cpu ${usage.cpuPercent}%`);
    assert.ok(usage.series.length >= 4, `${usage.series.length} samples`);
    assert.equal(usage.processes, 1);
  } finally {
    child.kill('SIGKILL');
  }
});

test('a pid that does not exist gives no report rather than zeros', () => {
  assert.equal(startProcSampler(2 ** 22 + 12345).stop(), undefined);
});
