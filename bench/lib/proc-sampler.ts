// Memory and CPU of a server under test, read from /proc every 250 ms: peak RSS and CPU time
// of the process and, optionally, its descendants (nginx and Varnish run several processes).
// Linux only; elsewhere the sampler reports nothing rather than guessing.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcSample {
  /** Seconds since the sampler started. */
  t: number;
  rssBytes: number;
  /** CPU use over the last interval, 100 = one full core. */
  cpuPercent: number;
}

export interface ProcUsage {
  peakRssBytes: number;
  cpuSeconds: number;
  /** The two parts of cpuSeconds: in the process's own code, and in the kernel on its behalf (writev's copies, TCP). */
  userSeconds: number;
  systemSeconds: number;
  wallSeconds: number;
  /** cpuSeconds / wallSeconds * 100: 100 = one core busy the whole time. */
  cpuPercent: number;
  processes: number;
  series: ProcSample[];
}

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
  userTicks: number;
  systemTicks: number;
}

/** Fields of /proc/<pid>/stat; the command name may hold spaces and parentheses, so split after the last ')'. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const pid = Number(text.slice(0, text.indexOf('(')).trim());
  // After ')': state(3) ppid(4) ... utime(14) stime(15); index 0 here is field 3.
  const f = text.slice(close + 2).trim().split(/\s+/);
  const ppid = Number(f[1]);
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (!Number.isFinite(pid) || !Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { pid, ppid, ticks: utime + stime, userTicks: utime, systemTicks: stime };
}

/** VmRSS from /proc/<pid>/status, in bytes. */
export function parseRssBytes(status: string): number | undefined {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100; // what Linux uses on every common architecture
    }
  }
  return clockTicks;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

function readRss(pid: number): number {
  try {
    return parseRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8')) ?? 0;
  } catch {
    return 0;
  }
}

/** The pid and every live descendant. */
function processTree(root: number): ProcStat[] {
  const all: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) all.push(s);
  }
  const inTree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of all) {
      if (!inTree.has(s.pid) && inTree.has(s.ppid)) {
        inTree.add(s.pid);
        grew = true;
      }
    }
  }
  return all.filter((s) => inTree.has(s.pid));
}

export interface ProcSampler {
  stop(): ProcUsage | undefined;
}

export function startProcSampler(pid: number, opts: { intervalMs?: number; children?: boolean } = {}): ProcSampler {
  if (process.platform !== 'linux' || pid <= 0 || !readStat(pid)) return { stop: () => undefined };
  const hz = ticksPerSecond();
  const interval = opts.intervalMs ?? 250;
  const t0 = Date.now();
  // CPU ticks counted from the first sample on, per pid, so a process that exits keeps its share.
  const seen = new Map<number, { first: ProcStat; last: ProcStat }>();
  const used = (pick: (s: ProcStat) => number): number => {
    let n = 0;
    for (const { first, last } of seen.values()) n += pick(last) - pick(first);
    return n;
  };
  const series: ProcSample[] = [];
  let peak = 0;
  let prevTotal = 0;
  let prevT = 0;
  const sample = () => {
    const stats = opts.children ? processTree(pid) : [readStat(pid)].filter((s): s is ProcStat => s !== undefined);
    let rss = 0;
    for (const s of stats) {
      const known = seen.get(s.pid);
      if (known) known.last = s;
      else seen.set(s.pid, { first: s, last: s });
      rss += readRss(s.pid);
    }
    const total = used((s) => s.ticks);
    const t = (Date.now() - t0) / 1000;
    const cpuPercent = t > prevT ? (((total - prevTotal) / hz) / (t - prevT)) * 100 : 0;
    prevTotal = total;
    prevT = t;
    if (rss > peak) peak = rss;
    if (stats.length > 0) series.push({ t, rssBytes: rss, cpuPercent });
  };
  sample();
  const timer = setInterval(sample, interval);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      const wallSeconds = (Date.now() - t0) / 1000;
      const cpuSeconds = prevTotal / hz;
      return {
        peakRssBytes: peak,
        cpuSeconds,
        userSeconds: used((s) => s.userTicks) / hz,
        systemSeconds: used((s) => s.systemTicks) / hz,
        wallSeconds,
        cpuPercent: wallSeconds > 0 ? (cpuSeconds / wallSeconds) * 100 : 0,
        processes: seen.size,
        series: series.slice(1), // the first sample has no interval behind it
      };
    },
  };
}
