// What one trip upstream produced, as the state machine (handler.ts) and its coalesced
// waiters see it.
import type { Outcome } from '../admin/metrics.js';
import type { Entry } from '../store/entry-codec.js';

export type FetchResult = {
  /** What waiters coalesced on this fetch may use: only a stored, shareable entry. */
  kind: 'stored' | 'not-shareable' | 'failed';
  entry?: Entry;
  bytes: number;
  outcome?: Outcome;
  err?: unknown;
  detail?: string;
  /** The cache write of a stored entry: settles once memcached has it (or refused it). */
  saved?: Promise<boolean>;
} & ({ kind: 'stored'; entry: Entry } | { kind: 'not-shareable' | 'failed' });
