// What the bench needs from any cache it puts in front of the backend (memfront, nginx
// srcache+memc, Varnish): where it listens, which process to watch, how it serves stale, and
// how to stop it. Competitors that are not installed say so instead of starting.

export interface CacheServer {
  id: string;
  label: string;
  /** http://127.0.0.1:port, no trailing slash. */
  url: string;
  /** The process (and its children) whose CPU and memory are reported. */
  pid: number;
  /** Whether the sampler should add up the process's children too. */
  sampleChildren: boolean;
  /** Processes it depends on that are not its children (its own memcached), for CPU and memory. */
  companionPids?: number[];
  /** Seconds past expiry an entry is still served while it is refreshed (0 = never). */
  staleWhileRevalidateS: number;
  /** The TTL the cache gives a response without caching headers. */
  defaultTtlS: number;
  /** memfront's admin URL, for /metrics. */
  adminUrl?: string;
  /** The last lines it wrote, for error messages. */
  output(): string;
  close(): Promise<void>;
}

export type Availability = { installed: true; version: string } | { installed: false; reason: string };

export interface StartOptions {
  backendUrl: string;
  /** Pin the server to this CPU when possible. */
  cpu?: number;
}

/** Plain-object deep merge for configs: `over` wins, arrays are replaced, not concatenated. */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const plain = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = plain(b) && plain(v) ? mergeConfig(b, v) : v;
  }
  return out;
}
