// The memcached store's read path in each wire protocol (cache.memcached.protocol): memfront's
// CPU per get and gets per second of one value size, 8 gets in flight, through MemcachedStore
// as the hit path calls it (getVersioned, the read that goes to L1). Also what an L1 renewal
// of an unchanged entry costs each way: binary asks the CAS alone (meta `mg`); on the text
// protocol, where proxies forward no meta commands, `gets` for the CAS alone, or a whole read
// compared with the copy held (what renew() does when version() cannot tell, as it now says
// on the text protocol: the two cost the same, and only the second reads a changed entry once).
//
// All variants run in one process, in short bursts, alternated in rotating order, and each
// variant's medians are reported: on a shared machine the load drifts over seconds, and
// separate runs of whole seconds each measured the drift more than the protocols.
//   node dist/bench/protocol-reads.js [--sizes 10240,102400,921600] [--bursts 30] [--burst-ms 250]
import { numberFlag } from './lib/cli-flags.js';
import { startMemcached } from './lib/memcached-process.js';
import { median } from './lib/stats.js';
import { MemcachedStore } from '../src/store/memcached-store.js';

const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  console.log('node dist/bench/protocol-reads.js [--sizes 10240,102400,921600] [--bursts 30] [--burst-ms 250]');
  process.exit(0);
}

const VARIANTS = ['binary-get', 'text-get', 'binary-renew-cas', 'text-renew-gets', 'text-renew-reread'] as const;
type Variant = (typeof VARIANTS)[number];

interface Burst {
  opsPerSecond: number;
  cpuUsPerOp: number;
}

async function main(): Promise<void> {
  const sizes = (argv.find((a, i) => argv[i - 1] === '--sizes') ?? '10240,102400,921600').split(',').map(Number);
  const bursts = numberFlag(argv, 'bursts', 30);
  const burstMs = numberFlag(argv, 'burst-ms', 250);
  const mc = await startMemcached({ itemSizeMb: 2 });
  const open = (protocol: 'binary' | 'text') => new MemcachedStore({ servers: [mc.server], protocol, timeoutMs: 2000, maxItemSize: 2 * 1024 * 1024 });
  const stores = { binary: open('binary'), text: open('text') };
  try {
    console.log(`store reads by protocol: 8 in flight, ${bursts} bursts of ${burstMs} ms per variant, alternated in one process; medians`);
    for (const size of sizes) {
      const value = Buffer.alloc(size, 'x');
      const keys = Array.from({ length: 8 }, (_, i) => `pr${size}:${i}`);
      for (const k of keys) await stores.binary.set(k, value, 600);
      // What L1 would hold: the copy and its version as each protocol reads it.
      const held = {
        binary: await Promise.all(keys.map((k) => stores.binary.getVersioned(k))),
        text: await Promise.all(keys.map((k) => stores.text.getVersioned(k))),
      };
      const op = async (variant: Variant, i: number): Promise<void> => {
        const key = keys[i];
        switch (variant) {
          case 'binary-get':
          case 'text-get': {
            const got = await stores[variant === 'binary-get' ? 'binary' : 'text'].getVersioned(key);
            if (got?.value.length !== size) throw new Error(`read ${got?.value.length} bytes, expected ${size}`);
            return;
          }
          case 'binary-renew-cas':
            if ((await stores.binary.version(key)) !== held.binary[i]!.version) throw new Error('version changed');
            return;
          case 'text-renew-gets':
            // What version() would do by gets (it did so before these measurements): the
            // value comes too and only its CAS is compared.
            if ((await stores.text.getVersioned(key))?.version !== held.text[i]!.version) throw new Error('version changed');
            return;
          case 'text-renew-reread': {
            const got = await stores.text.getVersioned(key);
            // renew() → read(): l1.unchanged() compares the bytes with the copy it holds.
            if (!got || !got.value.equals(held.text[i]!.value)) throw new Error('value changed');
            return;
          }
        }
      };
      const burst = async (variant: Variant, ms: number): Promise<Burst> => {
        let ops = 0;
        const started = performance.now();
        const end = started + ms;
        const cpu0 = process.cpuUsage();
        await Promise.all(
          keys.map(async (_, i) => {
            while (performance.now() < end) {
              await op(variant, i);
              ops++;
            }
          }),
        );
        const cpu = process.cpuUsage(cpu0);
        return { opsPerSecond: ops / ((performance.now() - started) / 1000), cpuUsPerOp: (cpu.user + cpu.system) / ops };
      };
      // Warm-up, not counted.
      for (const v of VARIANTS) await burst(v, burstMs);
      const runs = new Map<Variant, Burst[]>(VARIANTS.map((v) => [v, []]));
      for (let b = 0; b < bursts; b++) {
        for (let j = 0; j < VARIANTS.length; j++) {
          const v = VARIANTS[(b + j) % VARIANTS.length];
          runs.get(v)!.push(await burst(v, burstMs));
        }
      }
      for (const v of VARIANTS) {
        const rs = runs.get(v)!;
        console.log(
          `${String(size).padStart(8)} B  ${v.padEnd(18)} ${median(rs.map((x) => x.opsPerSecond)).toFixed(0).padStart(7)} ops/s ${median(rs.map((x) => x.cpuUsPerOp)).toFixed(1).padStart(7)} us/op`,
        );
      }
    }
  } finally {
    await stores.binary.close();
    await stores.text.close();
    await mc.close();
  }
}

await main();
