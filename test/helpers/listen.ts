// Ports for tests: every server listens on port 0 of 127.0.0.1 and says which port it got,
// so test files can run in parallel without colliding.

import net from 'node:net';
import type http from 'node:http';

/** Listens on an OS-chosen port and resolves it. */
export function listenOn(server: net.Server | http.Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(0, host, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/**
 * A port that was free a moment ago, for processes that must be told a port (memcached).
 * Someone else may take it before they bind: callers retry with another on failure.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  const port = await listenOn(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
