// Waiting until a freshly spawned process accepts TCP connections, failing fast if it dies first.

import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

function tryConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitForPort(
  host: string,
  port: number,
  opts: { timeoutMs?: number; child?: ChildProcess; name?: string } = {},
): Promise<void> {
  const name = opts.name ?? `${host}:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    if (opts.child && opts.child.exitCode !== null) {
      throw new Error(`${name} exited with status ${opts.child.exitCode} before listening on ${host}:${port}`);
    }
    if (opts.child && opts.child.signalCode !== null) {
      throw new Error(`${name} was killed by ${opts.child.signalCode} before listening on ${host}:${port}`);
    }
    if (await tryConnect(host, port)) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${host}:${port} within ${opts.timeoutMs ?? 10_000} ms`);
    // Polling is the only signal a foreign process gives us that it is ready.
    await delay(50);
  }
}
