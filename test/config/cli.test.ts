// The memfront command run as a child process: exit statuses, the one-line config errors,
// --help, and the start/stop life cycle on signals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configDocs } from '../../src/config/load.js';
import { listenOn } from '../helpers/listen.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'memfront-cli-'));
const children = new Set<ChildProcess>();
test.after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
function fileWith(text: string): string {
  const file = join(dir, `config-${++files}.json`);
  writeFileSync(file, text);
  return file;
}

/** The environment without the caller's MEMFRONT_ settings. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MEMFRONT_')));
}

interface Running {
  child: ChildProcess;
  /** stdout's JSON lines so far. */
  lines: Array<Record<string, any>>;
  stderr(): string;
  /** Resolves with the first line (already seen or to come) that fits. */
  line(fits: (l: Record<string, any>) => boolean): Promise<Record<string, any>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: Array<Record<string, any>> = [];
  const waiting: Array<{ fits: (l: Record<string, any>) => boolean; resolve: (l: Record<string, any>) => void }> = [];
  let stdout = '';
  let partial = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    partial += chunk.toString();
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let line: Record<string, any>;
      try {
        line = JSON.parse(text);
      } catch {
        continue; // --help and other plain text
      }
      lines.push(line);
      for (const w of [...waiting]) {
        if (w.fits(line)) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>((resolve) =>
    child.on('close', (code, signal) => {
      children.delete(child);
      for (const w of waiting) w.resolve({ never: true });
      resolve({ code, signal, stdout });
    }),
  );
  return {
    child,
    lines,
    stderr: () => stderr,
    line: (fits) => {
      const seen = lines.find(fits);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiting.push({ fits, resolve }));
    },
    exited,
  };
}

async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = start(args);
  const { code, stdout } = await run.exited;
  return { code, stdout, stderr: run.stderr() };
}

/** Exit status 2 and exactly one line on stderr, which is returned. */
async function refused(args: string[]): Promise<string> {
  const { code, stderr, stdout } = await runCli(args);
  assert.equal(code, 2, `exit status (stderr: ${stderr})`);
  assert.equal(stdout, '', 'nothing on stdout: it never started');
  const lines = stderr.split('\n');
  assert.equal(lines.length, 2, `one line on stderr: ${JSON.stringify(stderr)}`);
  assert.equal(lines[1], '');
  assert.match(lines[0], /^memfront: /);
  return lines[0];
}

/** Options that start memfront on free ports with nothing else needed. */
const quiet = (backendUrl = 'http://127.0.0.1:9'): string[] => [
  '--listen.host=127.0.0.1',
  '--listen.port=0',
  '--admin.port=0',
  '--cache.store=memory',
  `--backend.url=${backendUrl}`,
];

test('unparsable JSON: exit 2, naming the file', async () => {
  const file = fileWith('{ "listen": { "port": 8080, } }');
  assert.match(await refused(['--config', file]), new RegExp(`^memfront: cannot parse ${file}: `));
});

test('unknown key: exit 2, naming the key and the file', async () => {
  const file = fileWith('{ "cache": { "foo": 1 } }');
  assert.equal(await refused(['--config', file]), `memfront: unknown config key "cache.foo" in ${file}`);
});

test('wrong type: exit 2, naming the key', async () => {
  const file = fileWith('{ "cache": { "defaultTtl": "five minutes" } }');
  assert.match(await refused([`--config=${file}`]), /^memfront: cache.defaultTtl: must be a whole number >= 0, got "five minutes"/);
});

test('missing file: exit 2, naming the path', async () => {
  const file = join(dir, 'absent.json');
  assert.equal(await refused(['--config', file]), `memfront: cannot read config file ${file}: ENOENT`);
});

test('bad route regex: exit 2, naming the route', async () => {
  const file = fileWith(JSON.stringify({ routes: [{ match: '^/ok', to: 'backend' }, { match: '^/(', to: 'backend' }] }));
  assert.match(await refused(['--config', file]), /^memfront: routes\[1\]: bad regex "\^\/\(": /);
});

test('a flag that is no config key: exit 2', async () => {
  assert.match(await refused(['--no-such.option=1']), /^memfront: unknown config key "no-such.option"/);
  assert.match(await refused(['--config']), /^memfront: --config needs a file/);
});

test('a bad value in an argument: exit 2, naming the key', async () => {
  assert.match(await refused(['--listen.port=http']), /^memfront: listen.port: must be a port number/);
});

test('check validates the config first: exit 2 on a bad one', async () => {
  const file = fileWith('{ "workers": -1 }');
  assert.match(await refused(['check', '--config', file]), /^memfront: workers: must be a whole number >= 0, got -1/);
});

test('--help lists every key with its env name and default, and the check subcommand', async () => {
  for (const flag of ['--help', '-h']) {
    const { code, stdout, stderr } = await runCli([flag]);
    assert.equal(code, 0);
    assert.equal(stderr, '');
    assert.match(stdout, /cache\.memcached\.timeoutMs {2}\(default 50\)\n {6}env MEMFRONT_CACHE_MEMCACHED_TIMEOUT_MS\n/);
    assert.match(stdout, /memfront check /);
    for (const d of configDocs()) {
      assert.ok(stdout.includes(`  ${d.key}  (default `), `lists ${d.key}`);
      assert.ok(stdout.includes(`env ${d.env}\n      ${d.doc}\n`), `documents ${d.key}`);
    }
  }
});

test('it starts, and on SIGTERM lets the request in flight finish, then exits 0', async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let arrived!: () => void;
  const inFlight = new Promise<void>((resolve) => (arrived = resolve));
  const backend = http.createServer((_req, res) => {
    arrived();
    void held.then(() => res.end('finished after the signal'));
  });
  const backendPort = await listenOn(backend);
  try {
    const mf = start([...quiet(`http://127.0.0.1:${backendPort}`), '--shutdownGraceMs=20000']);
    const listening = await mf.line((l) => l.msg === 'memfront listening');
    assert.ok(listening.port > 0, `listening line: ${JSON.stringify(listening)}`);

    const response = new Promise<{ status?: number; body: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: listening.port, path: '/slow' }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      }).on('error', reject);
    });
    await inFlight;
    mf.child.kill('SIGTERM');
    const stopping = await mf.line((l) => l.msg === 'shutting down');
    assert.equal(stopping.signal, 'SIGTERM');
    release();
    assert.deepEqual(await response, { status: 200, body: 'finished after the signal' });
    const { code } = await mf.exited;
    assert.equal(code, 0, mf.stderr());
    assert.ok(mf.lines.some((l) => l.msg === 'stopped'));
  } finally {
    release();
    backend.closeAllConnections();
    await new Promise((resolve) => backend.close(resolve));
  }
});

test('a second signal exits at once, without waiting for the request in flight', async () => {
  let arrived!: () => void;
  const inFlight = new Promise<void>((resolve) => (arrived = resolve));
  const backend = http.createServer(() => arrived()); // never answers
  const backendPort = await listenOn(backend);
  try {
    const mf = start([...quiet(`http://127.0.0.1:${backendPort}`), '--shutdownGraceMs=60000']);
    const listening = await mf.line((l) => l.msg === 'memfront listening');
    const request = http.get({ host: '127.0.0.1', port: listening.port, path: '/never' });
    request.on('error', () => {}); // cut off when memfront exits
    await inFlight;
    mf.child.kill('SIGTERM');
    await mf.line((l) => l.msg === 'shutting down');
    mf.child.kill('SIGINT');
    const { code } = await mf.exited;
    assert.equal(code, 1);
    assert.ok(mf.lines.some((l) => l.msg === 'second signal: exiting at once' && l.signal === 'SIGINT'));
  } finally {
    backend.closeAllConnections();
    await new Promise((resolve) => backend.close(resolve));
  }
});

test('a port in use: a fatal line with the cause, exit 1', async () => {
  const taken = net.createServer();
  const port = await listenOn(taken);
  try {
    const mf = start([...quiet(), `--listen.port=${port}`]);
    const { code } = await mf.exited;
    assert.equal(code, 1);
    const fatal = mf.lines.find((l) => l.level === 60);
    assert.ok(fatal, `a fatal line among ${JSON.stringify(mf.lines)}`);
    assert.equal(fatal.msg, 'memfront failed to start');
    assert.equal(fatal.err.code, 'EADDRINUSE');
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});
