// undici, loaded once per process. Importing it adds ~21 MB to a process's RSS (measured: 54 ->
// 75 MB at idle). Every memfront needs it since the backend route forwards through it
// (backend-proxy.ts): startMemfront awaits it before listening; tools that load memfront's
// modules without serving (memfront check, tests of pure parts) never import it.
type Undici = typeof import('undici');

let loading: Promise<Undici> | undefined;

export function loadUndici(): Promise<Undici> {
  return (loading ??= import('undici'));
}
