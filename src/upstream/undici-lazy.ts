// undici, loaded by the first request that needs it. Importing it adds ~21 MB to a process's
// RSS (measured: 54 -> 75 MB at idle), and a memfront whose misses all go through the backend
// proxy (node:http) never needs it: only background refreshes and reproxy fetches use it.
type Undici = typeof import('undici');

let loading: Promise<Undici> | undefined;

export function loadUndici(): Promise<Undici> {
  return (loading ??= import('undici'));
}
