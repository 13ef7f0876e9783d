// Per-CPU busy time from /proc/stat, to tell how busy the server's core and the load
// generator's core were over a run: a server that did not fill its core, or a wrk that filled
// its own, changes what a req/s figure means. Linux only; elsewhere undefined.

import { readFileSync } from 'node:fs';

export interface CpuTicks {
  busy: number;
  /** Part of busy: the kernel's deferred network work, charged to no process. */
  softirq: number;
  total: number;
}

/** The `cpuN ...` lines of /proc/stat; idle and iowait are not busy, steal is (it was not ours). */
export function parseCpuStat(text: string): Map<number, CpuTicks> {
  const out = new Map<number, CpuTicks>();
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal [guest guest_nice: already inside user/nice]
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const busy = user + nice + system + irq + softirq + steal;
    out.set(Number(m[1]), { busy, softirq, total: busy + idle + iowait });
  }
  return out;
}

export function readCpuStat(): Map<number, CpuTicks> | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return parseCpuStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Busy share (0..1) of one CPU between two readings, or of its softirq part; undefined when unknown. */
export function busyShare(before: Map<number, CpuTicks> | undefined, after: Map<number, CpuTicks> | undefined, cpu: number | undefined, part: 'busy' | 'softirq' = 'busy'): number | undefined {
  if (cpu === undefined) return undefined;
  const a = before?.get(cpu);
  const b = after?.get(cpu);
  if (!a || !b || b.total <= a.total) return undefined;
  return (b[part] - a[part]) / (b.total - a.total);
}
