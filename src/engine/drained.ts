// Waiting for a client to take what was written: its 'drain', or its going away.
import type { ServerResponse } from 'node:http';

export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
