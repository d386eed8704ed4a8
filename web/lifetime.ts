// What a page started and must end: its DOM listeners (through `signal`), its
// subscriptions and its timers. `end()` ends them all, once.

export class Lifetime {
  private readonly controller = new AbortController();

  /** Pass as `{ signal }` to addEventListener: the listener is removed at `end()`. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get ended(): boolean {
    return this.controller.signal.aborted;
  }

  /** Calls `fn` at `end()` (an unsubscribe function, a disconnect…). */
  defer(fn: () => void): void {
    this.controller.signal.addEventListener("abort", () => fn(), { once: true });
  }

  /** Calls `fn` every `ms` until `end()`. */
  every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    this.defer(() => clearInterval(timer));
  }

  end(): void {
    this.controller.abort();
  }
}
