// Pending requests by key: whoever asks waits on a promise that the answer, a
// give-up (null) or a timeout settles, exactly once. Only an answer from the
// peer that was asked counts, so nobody else can settle another's request.
import type { Clock } from "./clock.ts";

interface Pending<V> {
  from: string;
  settle: (value: V | null) => void;
}

export class Waiters<V> {
  private readonly pending = new Map<string, Pending<V>>();

  constructor(private readonly clock: Clock) {}

  /** Waits for `key` from `from`; resolves null after `timeoutMs` or when given up. */
  wait(key: string, from: string, timeoutMs: number): Promise<V | null> {
    this.pending.get(key)?.settle(null);
    return new Promise<V | null>((resolve) => {
      const cancel = this.clock.after(timeoutMs, () => entry.settle(null));
      const entry: Pending<V> = {
        from,
        settle: (value) => {
          cancel();
          if (this.pending.get(key) === entry) this.pending.delete(key);
          resolve(value);
        },
      };
      this.pending.set(key, entry);
    });
  }

  /** Whether `from` is the peer a request for `key` waits on. */
  expects(key: string, from: string): boolean {
    return this.pending.get(key)?.from === from;
  }

  /** Settles the request for `key` if `from` is the peer it waits on; true if it did. */
  settle(key: string, from: string, value: V | null): boolean {
    const entry = this.pending.get(key);
    if (entry?.from !== from) return false;
    entry.settle(value);
    return true;
  }

  /** Gives up every request that waits on `from` (its link closed). */
  dropFrom(from: string): void {
    for (const entry of [...this.pending.values()]) if (entry.from === from) entry.settle(null);
  }

  clear(): void {
    for (const entry of [...this.pending.values()]) entry.settle(null);
  }
}
