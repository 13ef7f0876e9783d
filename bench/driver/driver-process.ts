// The load driver as its own process (so it never shares an event loop, or a core, with the
// server it measures). The parent sends {type: 'run', plan} over IPC; this answers with
// progress messages, then {type: 'result'} or {type: 'error'}, and exits.

import type { DriverPlan } from './driver-plan.js';
import { runLoad } from './load-driver.js';
import type { DriverMessage } from './start-driver.js';

function post(msg: DriverMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

process.once('message', (msg: { type: string; plan: DriverPlan }) => {
  if (msg.type !== 'run') return;
  runLoad(msg.plan, (progress) => void post({ type: 'progress', progress }))
    .then((result) => post({ type: 'result', result }))
    .catch((err: unknown) => post({ type: 'error', message: (err as Error).message ?? String(err) }))
    .finally(() => process.disconnect?.());
});
// The parent died: nobody will read the result.
process.on('disconnect', () => process.exit(0));
