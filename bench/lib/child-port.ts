// The bench's helper servers (constant-server, bench-backend, bare-proxy-server, reproxy's
// backend) print their port on the first line of stdout once they listen.
import type { ChildProcess } from 'node:child_process';

/** The port `child` prints on its first stdout line; rejects if it prints something else or exits first. */
export function childPort(child: ChildProcess, name: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      child.stdout?.off('data', onData);
      const p = Number(out.slice(0, nl));
      if (Number.isInteger(p) && p > 0) resolve(p);
      else reject(new Error(`${name} printed ${JSON.stringify(out.slice(0, nl))} instead of a port`));
    };
    child.stdout?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) before printing its port`)));
  });
}
