// Real memcached processes for tests: each on its own free port of 127.0.0.1 (never 11211),
// ready when it answers, and killed when the test process exits whatever happened.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './listen.js';

export interface MemcachedOptions {
  /** Default: a free port. */
  port?: number;
  /** memcached -I, the item size limit, in MB (default: memcached's 1). */
  maxItemSizeMB?: number;
  /** memcached -m (default 64). */
  memoryMB?: number;
  /** memcached -C: no CAS values kept (every item's CAS is 0). */
  noCas?: boolean;
}

export interface MemcachedProcess {
  readonly port: number;
  /** "127.0.0.1:PORT", as the config's server lists spell it. */
  readonly address: string;
  /** Kills it (SIGKILL), resolved once it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port (stopping it first if it runs), empty. */
  restart(): Promise<void>;
  /** flush_all. */
  flush(): Promise<void>;
}

const READY_WITHIN_MS = 5000;
const PORT_ATTEMPTS = 5;

const running = new Set<ChildProcess>();
let cleanupInstalled = false;

/** A test that fails or forgets stop() must not leave memcached processes behind. */
function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const killAll = () => {
    for (const child of running) child.kill('SIGKILL');
    running.clear();
  };
  process.on('exit', killAll);
  // A signal ends the process without 'exit': kill ours, then die of the signal as we would have.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

function memcachedBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'memcached');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return '/usr/bin/memcached';
}

/** Sends a text-protocol command and resolves the reply once it ends with `end`. */
export function memcachedCommand(port: number, command: string, end: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`memcached on ${port} did not answer ${command.trim()}`)));
    socket.on('connect', () => socket.write(command));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.endsWith(end)) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`memcached on ${port} closed before answering ${command.trim()}`)));
  });
}

class Instance {
  child: ChildProcess | undefined;
  private stderr = '';

  constructor(
    readonly port: number,
    private readonly args: string[],
  ) {}

  /** Spawns memcached and resolves once it answers; rejects (with its stderr) if it exits first. */
  async spawn(): Promise<void> {
    this.stderr = '';
    const child = spawn(memcachedBinary(), this.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    running.add(child);
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    child.once('exit', () => running.delete(child));
    // Neither the process nor its pipe may keep a finished test alive; 'exit' kills it.
    child.unref();
    (child.stderr as net.Socket).unref();

    const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
    const deadline = Date.now() + READY_WITHIN_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`memcached on port ${this.port} exited: ${this.stderr.trim() || child.exitCode}`);
      }
      try {
        // `stats` rather than only `version`: the pid proves it is ours answering, not
        // whoever else took the port while ours failed to bind.
        const stats = await Promise.race([memcachedCommand(this.port, 'stats\r\n', 'END\r\n', 500), spawnError]);
        if (stats.includes(`STAT pid ${child.pid}\r\n`)) return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new Error('memcached is not installed (apt-get install memcached)', { cause: err });
        }
        // Not listening yet: poll, since memcached announces readiness nowhere.
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`memcached on port ${this.port} did not answer within ${READY_WITHIN_MS} ms`);
      }
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    // Referenced again so the wait for 'exit' keeps the event loop alive.
    child.ref();
    const exited = once(child, 'exit');
    // SIGKILL, not SIGTERM: memcached acts on SIGTERM only at its next once-a-second clock
    // tick, so each stop would cost up to a second; it holds nothing a clean exit would save.
    child.kill('SIGKILL');
    await exited;
  }
}

function argsFor(port: number, opts: MemcachedOptions): string[] {
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', String(opts.memoryMB ?? 64)];
  if (opts.maxItemSizeMB !== undefined) args.push('-I', `${opts.maxItemSizeMB}m`);
  if (opts.noCas) args.push('-C');
  // memcached refuses to run as root unless told which user to be.
  if (process.getuid?.() === 0) args.push('-u', 'root');
  return args;
}

async function spawnOn(choosePort: () => Promise<number>, opts: MemcachedOptions): Promise<Instance> {
  let lastError: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await choosePort();
    const instance = new Instance(port, argsFor(port, opts));
    try {
      await instance.spawn();
      return instance;
    } catch (err) {
      lastError = err;
      if (/not installed/.test(String(err))) break;
      await sleep(50);
    }
  }
  throw lastError;
}

export async function startMemcached(opts: MemcachedOptions = {}): Promise<MemcachedProcess> {
  installCleanup();
  // A port chosen for us may be taken between freePort() and memcached's bind: try another.
  let instance = await spawnOn(async () => opts.port ?? (await freePort()), opts);
  const port = instance.port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    stop: () => instance.stop(),
    async restart() {
      await instance.stop();
      // Same port: memcached binds with SO_REUSEADDR, so only another process could hold it.
      instance = await spawnOn(async () => port, opts);
    },
    async flush() {
      await memcachedCommand(port, 'flush_all\r\n', 'OK\r\n');
    },
  };
}
