// memjs's read path as shipped against memfront's (src/store/memjs-reader.ts): gets per second
// and CPU per get of one value size, 8 gets in flight, each variant in its own process (the
// reader patches memjs's prototype), alternated, medians reported.
//   node dist/bench/memjs-reads.js [--sizes 10240,102400,921600] [--seconds 3] [--rounds 3]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import memjs from 'memjs';
import { numberFlag } from './lib/cli-flags.js';
import { startMemcached } from './lib/memcached-process.js';
import { canPin } from './lib/pinned-spawn.js';
import { median } from './lib/stats.js';

const argv = process.argv.slice(2);

interface Run {
  getsPerSecond: number;
  cpuUsPerGet: number;
}

/** One measurement, in this process: `node memjs-reads.js --child SERVER SIZE SECONDS patched|memjs`. */
async function child(server: string, size: number, seconds: number, patched: boolean): Promise<void> {
  if (patched) (await import('../src/store/memjs-reader.js')).installMemjsReader();
  const client = memjs.Client.create(server, { timeout: 5, retries: 0 });
  const value = Buffer.alloc(size, 'x');
  for (let i = 0; i < 8; i++) await client.set(`mjr${i}`, value, { expires: 600 });
  let gets = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      while (performance.now() < end) {
        const got = await client.get(`mjr${i}`);
        if (got.value?.length !== size) throw new Error(`read ${got.value?.length} bytes, expected ${size}`);
        gets++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  client.close();
  const run: Run = { getsPerSecond: gets / ((performance.now() - started) / 1000), cpuUsPerGet: (cpu.user + cpu.system) / gets };
  process.stdout.write(JSON.stringify(run) + '\n');
}

async function main(): Promise<void> {
  const sizes = (argv.find((a, i) => argv[i - 1] === '--sizes') ?? '10240,102400,921600').split(',').map(Number);
  const seconds = numberFlag(argv, 'seconds', 3);
  const rounds = numberFlag(argv, 'rounds', 3);
  const mc = await startMemcached({ itemSizeMb: 2 });
  const self = fileURLToPath(import.meta.url);
  const pin = canPin(2) ? ['taskset', '-c', '0'] : [];
  const measure = (size: number, variant: 'patched' | 'memjs'): Run => {
    const cmd = [...pin, process.execPath, self, '--child', mc.server, String(size), String(seconds), variant];
    return JSON.parse(execFileSync(cmd[0], cmd.slice(1), { encoding: 'utf8' })) as Run;
  };
  try {
    console.log(`memjs reads: 8 gets in flight, ${rounds} x ${seconds} s per variant, alternated${pin.length ? ', client pinned to CPU 0' : ''}`);
    for (const size of sizes) {
      const runs = { memjs: [] as Run[], patched: [] as Run[] };
      for (let r = 0; r < rounds; r++) {
        runs.memjs.push(measure(size, 'memjs'));
        runs.patched.push(measure(size, 'patched'));
      }
      const m = (v: Run[], k: keyof Run) => median(v.map((x) => x[k]));
      console.log(
        `${String(size).padStart(8)} B  memjs ${m(runs.memjs, 'getsPerSecond').toFixed(0).padStart(7)} gets/s ${m(runs.memjs, 'cpuUsPerGet').toFixed(1).padStart(7)} us/get` +
          `   memfront reader ${m(runs.patched, 'getsPerSecond').toFixed(0).padStart(7)} gets/s ${m(runs.patched, 'cpuUsPerGet').toFixed(1).padStart(7)} us/get` +
          `   = ${(m(runs.patched, 'getsPerSecond') / m(runs.memjs, 'getsPerSecond')).toFixed(2)}x gets/s`,
      );
    }
  } finally {
    await mc.close();
  }
}

if (argv[0] === '--child') await child(argv[1], Number(argv[2]), Number(argv[3]), argv[4] === 'patched');
else await main();
