// The memcached store's read path in each wire protocol (cache.memcached.protocol): gets per
// second and memfront's CPU per get of one value size, 8 gets in flight, through
// MemcachedStore as the hit path calls it (getVersioned, the read that goes to L1). Each
// variant runs in its own process, alternated, medians reported. Also what an L1 renewal of
// an unchanged entry costs each way: binary asks the CAS alone (meta `mg`); on the text
// protocol, where proxies forward no meta commands, either `gets` for the CAS (version()) or
// a whole read compared with the copy held (what renew() does when version() cannot tell).
//   node dist/bench/protocol-reads.js [--sizes 10240,102400,921600] [--seconds 3] [--rounds 3]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { numberFlag } from './lib/cli-flags.js';
import { startMemcached } from './lib/memcached-process.js';
import { canPin } from './lib/pinned-spawn.js';
import { median } from './lib/stats.js';
import { MemcachedStore, type MemcachedProtocol } from '../src/store/memcached-store.js';

const argv = process.argv.slice(2);

const VARIANTS = ['binary-get', 'text-get', 'binary-renew-cas', 'text-renew-gets', 'text-renew-reread'] as const;
type Variant = (typeof VARIANTS)[number];

interface Run {
  opsPerSecond: number;
  cpuUsPerOp: number;
}

async function child(server: string, size: number, seconds: number, variant: Variant): Promise<void> {
  const protocol: MemcachedProtocol = variant.startsWith('text') ? 'text' : 'binary';
  const store = new MemcachedStore({ servers: [server], protocol, timeoutMs: 1000, maxItemSize: 2 * 1024 * 1024 });
  const value = Buffer.alloc(size, 'x');
  const held: { value: Buffer; version: string | undefined }[] = [];
  for (let i = 0; i < 8; i++) {
    await store.set(`pr${i}`, value, 600);
    held.push((await store.getVersioned(`pr${i}`))!);
  }
  const op = async (i: number): Promise<void> => {
    const key = `pr${i}`;
    switch (variant) {
      case 'binary-get':
      case 'text-get': {
        const got = await store.getVersioned(key);
        if (got?.value.length !== size) throw new Error(`read ${got?.value.length} bytes, expected ${size}`);
        return;
      }
      case 'binary-renew-cas':
      case 'text-renew-gets':
        if ((await store.version(key)) !== held[i].version) throw new Error('version changed');
        return;
      case 'text-renew-reread': {
        const got = await store.getVersioned(key);
        // renew() → read(): l1.unchanged() compares the bytes with the copy it holds.
        if (!got || !got.value.equals(held[i].value)) throw new Error('value changed');
        return;
      }
    }
  };
  let ops = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      while (performance.now() < end) {
        await op(i);
        ops++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  const run: Run = { opsPerSecond: ops / ((performance.now() - started) / 1000), cpuUsPerOp: (cpu.user + cpu.system) / ops };
  process.stdout.write(JSON.stringify(run) + '\n');
}

async function main(): Promise<void> {
  const sizes = (argv.find((a, i) => argv[i - 1] === '--sizes') ?? '10240,102400,921600').split(',').map(Number);
  const seconds = numberFlag(argv, 'seconds', 3);
  const rounds = numberFlag(argv, 'rounds', 3);
  const only = (argv.find((a, i) => argv[i - 1] === '--variants') ?? VARIANTS.join(',')).split(',') as Variant[];
  const mc = await startMemcached({ itemSizeMb: 2 });
  const self = fileURLToPath(import.meta.url);
  const pin = canPin(2) ? ['taskset', '-c', '0'] : [];
  const measure = (size: number, variant: Variant): Run => {
    const cmd = [...pin, process.execPath, self, '--child', mc.server, String(size), String(seconds), variant];
    return JSON.parse(execFileSync(cmd[0], cmd.slice(1), { encoding: 'utf8' })) as Run;
  };
  try {
    console.log(`store reads by protocol: 8 in flight, ${rounds} x ${seconds} s per variant, alternated${pin.length ? ', client pinned to CPU 0' : ''}`);
    for (const size of sizes) {
      const runs = new Map<Variant, Run[]>(only.map((v) => [v, []]));
      for (let r = 0; r < rounds; r++) for (const v of only) runs.get(v)!.push(measure(size, v));
      for (const v of only) {
        const rs = runs.get(v)!;
        const each = rs.map((x) => `${x.opsPerSecond.toFixed(0)}/${x.cpuUsPerOp.toFixed(1)}`).join(' ');
        console.log(
          `${String(size).padStart(8)} B  ${v.padEnd(18)} ${median(rs.map((x) => x.opsPerSecond)).toFixed(0).padStart(7)} ops/s ${median(rs.map((x) => x.cpuUsPerOp)).toFixed(1).padStart(7)} us/op   (runs: ${each})`,
        );
      }
    }
  } finally {
    await mc.close();
  }
}

if (argv[0] === '--child') await child(argv[1], Number(argv[2]), Number(argv[3]), argv[4] as Variant);
else await main();
