// Real twemproxy (Debian's `nutcracker`) for tests: conf/nutcracker.yml as shipped, with a
// free port to listen on and the test's memcached processes as its servers. Ready when a
// get through it is answered; killed when the test process exits whatever happened.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './listen.js';
import { memcachedCommand } from './memcached.js';

export const NUTCRACKER_CONF = new URL('../../../conf/nutcracker.yml', import.meta.url);

export interface NutcrackerProcess {
  readonly port: number;
  /** "127.0.0.1:PORT", as memfront's config names a server. */
  readonly address: string;
  stop(): Promise<void>;
}

const READY_WITHIN_MS = 5000;
const PORT_ATTEMPTS = 5;
const running = new Set<ChildProcess>();
let cleanupInstalled = false;

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

export function nutcrackerBinary(): string {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/bin']) {
    if (!dir) continue;
    const candidate = path.join(dir, 'nutcracker');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error('nutcracker is not installed (apt-get install nutcracker; npm test installs it as root)');
}

/** The shipped config with `port` to listen on and `servers` ("host:port") behind it. */
export function nutcrackerConfig(template: string, port: number, servers: string[]): string {
  const lines = template.split('\n');
  const out: string[] = [];
  let listed = false;
  for (const line of lines) {
    if (/^\s+listen: /.test(line)) out.push(line.replace(/listen: .*/, `listen: 127.0.0.1:${port}`));
    else if (/^\s+- [^\s:]+:\d+:\d+\s*$/.test(line)) {
      // The shipped servers give way to ours, in their place and with their indentation.
      if (!listed) out.push(...servers.map((s) => line.replace(/- .*/, `- ${s}:1`)));
      listed = true;
    } else out.push(line);
  }
  if (!listed) throw new Error('conf/nutcracker.yml lists no servers');
  return out.join('\n');
}

export async function startNutcracker(servers: string[]): Promise<NutcrackerProcess> {
  installCleanup();
  const binary = nutcrackerBinary();
  const template = readFileSync(NUTCRACKER_CONF, 'utf8');
  let lastError: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'memfront-nutcracker-'));
    const port = await freePort();
    const statsPort = await freePort();
    const conf = path.join(dir, 'nutcracker.yml');
    writeFileSync(conf, nutcrackerConfig(template, port, servers));
    const child = spawn(binary, ['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', path.join(dir, 'log'), '-p', path.join(dir, 'pid')], {
      stdio: 'ignore',
    });
    running.add(child);
    child.once('exit', () => running.delete(child));
    child.unref();
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.ref();
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      await waitUntilServing(port, child);
      return { port, address: `127.0.0.1:${port}`, stop };
    } catch (err) {
      lastError = err;
      await stop().catch(() => {});
      await sleep(50);
    }
  }
  throw lastError;
}

/** A get answered through it: nutcracker listens and reaches its servers. */
async function waitUntilServing(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nutcracker on ${port} exited (${child.exitCode ?? child.signalCode})`);
    try {
      const reply = await memcachedCommand(port, 'get memfront:nutcracker-ready\r\n', 'END\r\n', 500);
      if (reply.endsWith('END\r\n')) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`nutcracker on ${port} did not answer within ${READY_WITHIN_MS} ms`);
    await sleep(20);
  }
}
