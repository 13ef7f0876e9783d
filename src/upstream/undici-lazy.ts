// undici, loaded once per process. Importing it adds to a process's RSS (an earlier measure:
// 54 -> 75 MB at idle; memfront's idle RSS with it imported at start: 62.8 -> 70.6 MB).
// Every memfront needs it since the backend route forwards through it
// (backend-proxy.ts): startMemfront awaits it before listening; tools that load memfront's
// modules without serving (memfront check, tests of pure parts) never import it.
type Undici = typeof import('undici');

let loading: Promise<Undici> | undefined;

export function loadUndici(): Promise<Undici> {
  return (loading ??= import('undici'));
}
