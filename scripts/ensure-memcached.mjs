// npm `pretest`: the tests run against a real memcached, so make sure there is one.
// Installs it with apt when we may (root, apt-get present); otherwise says what to install.
// The tests start their own memcached processes on free ports: a system service that the
// package may start on 11211 is never used by them.

import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function haveMemcached() {
  if (onPath('memcached')) return true;
  try {
    accessSync('/usr/bin/memcached', constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function run(command, args) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  return result.status === 0;
}

const advice = 'memfront tests need memcached: apt-get install memcached';

if (haveMemcached()) process.exit(0);

if (process.getuid?.() !== 0 || !onPath('apt-get')) {
  console.error(advice);
  process.exit(1);
}

console.error('memcached not found: installing it with apt-get');
if (!run('apt-get', ['update']) || !run('apt-get', ['install', '-y', 'memcached']) || !haveMemcached()) {
  console.error(advice);
  process.exit(1);
}
