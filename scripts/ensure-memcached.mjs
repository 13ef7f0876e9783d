// npm `pretest`: the tests run against a real memcached, and against twemproxy (Debian's
// `nutcracker`) in front of memcached, so make sure both are there. Installs them with apt
// when we may (root, apt-get present); otherwise says what to install.
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

/** On PATH, or where Debian puts it (nutcracker is in /usr/sbin, which a non-login PATH may lack). */
function have(name) {
  if (onPath(name)) return true;
  for (const dir of ['/usr/bin', '/usr/sbin']) {
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

const needed = ['memcached', 'nutcracker'];

function run(command, args) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  return result.status === 0;
}

const advice = `memfront tests need ${needed.join(' and ')}: apt-get install ${needed.join(' ')}`;
const missing = needed.filter((name) => !have(name));

if (missing.length === 0) process.exit(0);

if (process.getuid?.() !== 0 || !onPath('apt-get')) {
  console.error(advice);
  process.exit(1);
}

console.error(`${missing.join(' and ')} not found: installing with apt-get`);
// The package service (memcached on 11211, nutcracker on 22121) may start too; the tests
// never use it: they start their own on free ports.
if (!run('apt-get', ['update']) || !run('apt-get', ['install', '-y', ...missing]) || !needed.every(have)) {
  console.error(advice);
  process.exit(1);
}
