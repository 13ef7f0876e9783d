// The lines logged in one turn of the event loop, handed to pino's destination as one string.
//
// pino's asynchronous destination (sonic-boom) keeps what it has not written yet as one
// string: while a write is under way each new line is appended to it, and the whole pending
// string is measured again (Buffer.byteLength, which flattens the string it is given: a copy
// of up to 16 KB per line). With a line per request under load the pending string is
// kilobytes long at every line, and at the default log level that copying was most of the
// access log's cost (docs/bench.md). Joined here once per turn, the destination sees one write
// per turn instead of one per line.
import type { DestinationStream } from 'pino';

/** The part of sonic-boom this uses (pino.destination() makes one). */
export interface LineDestination extends DestinationStream {
  flushSync(): void;
  flush?(cb?: (err?: Error) => void): void;
}

export class TurnBatch implements DestinationStream {
  private pending: string[] = [];
  private scheduled = false;

  constructor(private readonly dest: LineDestination) {
    // Lines of the last turn before process.exit() (a fatal error, the end of a shutdown)
    // would otherwise never reach the destination.
    process.on('exit', () => this.flushSync());
  }

  write(line: string): void {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  /** Hands the pending lines over and has the destination write everything now. */
  flushSync(): void {
    this.drain();
    try {
      this.dest.flushSync();
    } catch {
      // sonic-boom refuses a flushSync while it is not ready (an fd still opening) or after
      // it was closed: nothing more can be written then.
    }
  }

  /** pino's logger.flush(): the pending lines handed over, then the destination's own flush. */
  flush(cb?: (err?: Error) => void): void {
    this.drain();
    if (this.dest.flush) this.dest.flush(cb);
    else cb?.();
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const lines = this.pending;
    if (lines.length === 0) return;
    this.pending = [];
    this.dest.write(lines.length === 1 ? lines[0] : lines.join(''));
  };
}
