// The memfront bin as operators run it, as a child process: its JSON log lines parsed as they
// come, waits for a line that fits, and cleanup that also reaches cluster workers (by the pids
// the primary logs), so a failing test leaves nothing running.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binNodeFlags } from '../../bench/lib/bin-node-flags.js';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
/** The node flags of the bin's shebang: this node runs the file as the installed bin would. */
const NODE_FLAGS = binNodeFlags(CLI);

export type LogLine = Record<string, any>;

export interface CliRun {
  child: ChildProcess;
  pid: number;
  lines: LogLine[];
  stdout(): string;
  stderr(): string;
  /** The first line (already seen or to come) that fits; rejects after `ms` with the output so far. */
  line(fits: (l: LogLine) => boolean, ms?: number, what?: string): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs the process and every worker pid it logged. */
  kill(): void;
}

const running = new Set<CliRun>();
process.on('exit', () => {
  for (const run of running) run.kill();
});

/** The environment without the caller's MEMFRONT_ settings. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MEMFRONT_')));
}

export function startCli(args: string[]): CliRun {
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const waiting: Array<{ fits: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  let stdout = '';
  let stderr = '';
  let partial = '';
  const workerPids = new Set<number>();
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    partial += chunk.toString();
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let line: LogLine;
      try {
        line = JSON.parse(text);
      } catch {
        continue;
      }
      lines.push(line);
      if (typeof line.workerPid === 'number') workerPids.add(line.workerPid);
      for (const w of [...waiting]) {
        if (w.fits(line)) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      running.delete(run);
      resolve({ code, signal });
    }),
  );
  const run: CliRun = {
    child,
    pid: child.pid ?? -1,
    lines,
    stdout: () => stdout,
    stderr: () => stderr,
    line(fits, ms = 15_000, what = 'a log line') {
      const seen = lines.find(fits);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const entry = {
          fits,
          resolve: (l: LogLine) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(entry), 1);
          reject(new Error(`no ${what} within ${ms} ms; stdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr.slice(-2000)}`));
        }, ms);
        waiting.push(entry);
      });
    },
    exited,
    kill() {
      for (const pid of workerPids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      child.kill('SIGKILL');
    },
  };
  running.add(run);
  return run;
}

/** A scratch directory for config files, removed by the returned function. */
export function scratchDir(): { dir: string; file(name: string, content: unknown): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'memfront-ops-'));
  return {
    dir,
    file(name, content) {
      const path = join(dir, name);
      writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** memfront's answer: the status, headers and body, over a fresh connection. */
export function request(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', reject);
  });
}

/** The ttl=N of a Cache-Status header. */
export function ttlOf(cacheStatus: string | string[] | undefined): number | undefined {
  const m = /ttl=(\d+)/.exec(String(cacheStatus ?? ''));
  return m ? Number(m[1]) : undefined;
}
