// `npm run demo`: a fake CMS on :8081, memfront in front of it on :8080 (memcached when one is
// installed, else the in-process memory store), and a list of curl commands to try.
// Flags: --port (8080) --backend-port (8081) --admin-port (8079) --host (127.0.0.1).

import { startCmsBackend } from './cms-backend.js';
import { demoInstructions } from './demo-instructions.js';
import { flagValue, numberFlag } from '../bench/lib/cli-flags.js';
import { findMemcached, startMemcached, type MemcachedProcess } from '../bench/lib/memcached-process.js';

interface Closer {
  name: string;
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const host = flagValue(argv, 'host') ?? '127.0.0.1';
  const port = numberFlag(argv, 'port', 8080);
  const backendPort = numberFlag(argv, 'backend-port', 8081);
  const adminPort = numberFlag(argv, 'admin-port', 8079);

  // Everything started so far, stopped in reverse order on Ctrl-C or a failed start.
  const started: Closer[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const c of started.reverse()) {
      try {
        await c.close();
      } catch (err) {
        console.error(`demo: stopping ${c.name} failed: ${(err as Error).message}`);
      }
    }
    process.exit(code);
  };
  const onSignal = () => {
    if (stopping) process.exit(130); // a second Ctrl-C does not wait
    console.log('\ndemo: stopping');
    void stopAll(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const backend = await startCmsBackend({ host: '127.0.0.1', port: backendPort, renderMs: 0 });
    started.push({ name: 'CMS backend', close: () => backend.close() });

    let memcached: MemcachedProcess | undefined;
    const storeArgs: string[] = [];
    let storeNote: string;
    if (findMemcached()) {
      memcached = await startMemcached();
      const mc = memcached;
      started.push({ name: 'memcached', close: () => mc.close() });
      storeArgs.push('--cache.store=memcached', `--cache.memcached.servers=${memcached.server}`);
      storeNote = `memcached on ${memcached.server}, pid ${memcached.pid}`;
    } else {
      storeArgs.push('--cache.store=memory');
      storeNote = 'in-process memory store';
      console.warn('demo: WARNING: no memcached on PATH; using cache.store=memory (one process, lost on exit). Install memcached for the real thing.');
    }

    const { loadConfig } = await import('../src/config/load.js');
    const { createLogger } = await import('../src/log.js');
    const { startMemfront } = await import('../src/server.js');
    const config = loadConfig({
      env: process.env,
      args: [
        `--listen.host=${host}`,
        `--listen.port=${port}`,
        `--backend.url=${backend.url}`,
        `--admin.port=${adminPort}`,
        '--workers=1',
        ...storeArgs,
      ],
    });
    const logger = createLogger({ level: config.log.level, pretty: true });
    const memfront = await startMemfront(config, { logger });
    started.push({ name: 'memfront', close: () => memfront.close(2000) });

    const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    console.log(
      demoInstructions({
        url: `http://${shown}:${memfront.port}`,
        backendUrl: backend.url,
        adminUrl: `http://${config.admin.host}:${memfront.adminPort}`,
        store: storeNote,
      }),
    );
  } catch (err) {
    console.error(`demo: failed to start: ${(err as Error).message}`);
    await stopAll(1);
  }
}

void main();
