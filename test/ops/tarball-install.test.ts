// The release as an operator installs it (CONTRACT.md "Running it"): `npm pack` builds the
// tarball, `npm install -g --omit=dev` of it into a fresh prefix gives a `memfront` that runs
// with production dependencies only, at the path conf/memfront.service starts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const npmMissing = spawnSync('npm', ['--version'], { encoding: 'utf8' }).error;

/** The environment without npm's lifecycle variables (`npm test` sets npm_command=test, …). */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && !k.startsWith('MEMFRONT_')));

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.error ?? r.status}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

describe('the release tarball', { skip: npmMissing ? `npm is not on PATH (${npmMissing.message})` : false, timeout: 240_000 }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'memfront-release-'));
  const prefix = join(scratch, 'prefix');
  const installed = join(prefix, 'lib', 'node_modules', 'memfront');
  const bin = join(prefix, 'bin', 'memfront');
  let tarball: string;
  after(() => rmSync(scratch, { recursive: true, force: true }));

  before(() => {
    // Packed from a copy: prepack rebuilds dist/src from scratch, which in the checkout would
    // pull the build out from under tests running alongside this one.
    const copy = join(scratch, 'checkout');
    mkdirSync(copy);
    for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'src', 'conf', 'docs', 'scripts']) {
      cpSync(join(root, entry), join(copy, entry), { recursive: true });
    }
    symlinkSync(realpathSync(join(root, 'node_modules')), join(copy, 'node_modules'));
    const packed = JSON.parse(ok(run('npm', ['pack', '--json', '--pack-destination', scratch], copy), 'npm pack'));
    tarball = join(scratch, packed[0].filename);

    // Offline when npm's cache holds the dependencies; else npm may fetch what it lacks.
    const install = (mode: string) =>
      run('npm', ['install', '-g', '--omit=dev', mode, '--no-audit', '--no-fund', '--prefix', prefix, tarball], scratch);
    let r = install('--offline');
    if (r.status !== 0 && /ENOTCACHED/.test(r.stderr)) r = install('--prefer-offline');
    ok(r, 'npm install -g --omit=dev');
  });

  it('holds the built dist/src, the configs and docs, and no tests, sources or bench', () => {
    assert.ok(existsSync(join(installed, 'dist', 'src', 'cli.js')));
    assert.ok(existsSync(join(installed, 'conf', 'memfront.service')));
    assert.ok(existsSync(join(installed, 'docs', 'operations.md')));
    for (const absent of ['src', 'test', 'bench', join('dist', 'test'), join('dist', 'bench'), 'tsconfig.json']) {
      assert.ok(!existsSync(join(installed, absent)), `${absent} is not installed`);
    }
  });

  it('installs production dependencies only', () => {
    for (const dev of Object.keys(pkg.devDependencies)) assert.ok(!existsSync(join(installed, 'node_modules', dev)), `${dev} (dev) is not installed`);
    for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(installed, 'node_modules', dep)), `${dep} is installed`);
  });

  it('puts memfront in <prefix>/bin, where the systemd unit runs it from /opt/memfront', () => {
    const unit = readFileSync(join(installed, 'conf', 'memfront.service'), 'utf8');
    const exec = /^ExecStart=(\S+)/m.exec(unit)?.[1];
    assert.equal(exec, '/opt/memfront/bin/memfront');
    assert.ok(existsSync(exec!.replace('/opt/memfront', prefix)), 'npm install -g --prefix /opt/memfront would put it there');
  });

  it('memfront --version runs from the install', () => {
    assert.equal(ok(run(bin, ['--version'], scratch), 'memfront --version'), `memfront ${pkg.version}\n`);
  });

  it('the installed bin starts the proxy with the node flags of its shebang', async () => {
    // `#!/usr/bin/env -S node FLAGS`: run as the systemd unit runs it, the flags must reach node.
    const child = spawn(bin, ['--listen.host=127.0.0.1', '--listen.port=0', '--admin.port=0', '--cache.store=memory', '--log.level=info'], { cwd: scratch, env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "memfront listening" line in 30 s:\n${out}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          // Whole lines only: a chunk may end inside one.
          for (const text of out.split('\n').slice(0, -1)) {
            if (!text.includes('"memfront listening"')) continue;
            clearTimeout(timer);
            resolve(JSON.parse(text));
          }
        });
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => reject(new Error(`memfront exited (${code}) before listening:\n${out}`)));
      });
      assert.deepEqual(listening.nodeFlags, ['--max-semi-space-size=8']);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('memfront check --offline validates a shipped config from the install', () => {
    const out = ok(run(bin, ['check', '--offline', '--config', join(installed, 'conf', 'wordpress.json')], scratch), 'memfront check --offline');
    assert.match(out, /^config: valid\n/);
  });

  it('every module the proxy loads resolves without dev dependencies', () => {
    // check --offline loads only the config code; the server and its cluster load the rest.
    const load = `for (const m of ['server.js', 'cluster.js', 'check.js']) await import(${JSON.stringify(join(installed, 'dist', 'src'))} + '/' + m); await import('undici');`;
    ok(run(process.execPath, ['--input-type=module', '-e', load], installed), 'importing dist/src');
  });
});
