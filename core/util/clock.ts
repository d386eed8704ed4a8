// Time as core sees it: injected, so core owns no timers of its own and tests can
// drive it with a fake clock.

export interface Clock {
  nowMs(): number;
  /** Calls `fn` once after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/** A manual clock for tests and simulations: time moves only when told to. */
export class ManualClock implements Clock {
  private now = 0;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];

  nowMs(): number {
    return this.now;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.now + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  get pending(): number {
    return this.timers.length;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order and letting promise
   * callbacks (microtasks) run after each one.
   */
  async advance(ms: number, flush: () => Promise<void> = () => Promise.resolve()): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await flush();
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.now = Math.max(this.now, next.at);
      next.fn();
    }
    this.now = end;
    await flush();
  }

  /**
   * Moves time forward `stepMs` at a time until `condition` holds, letting real
   * async work (WebCrypto, I/O) finish between steps through `flush`. Throws once
   * `maxMs` of clock time has passed without it; returns the clock time it took.
   */
  async runUntil(
    condition: () => boolean | Promise<boolean>,
    options: { stepMs?: number; maxMs?: number; flush?: () => Promise<void>; what?: string } = {},
  ): Promise<number> {
    const { stepMs = 10, maxMs = 60_000, flush = () => Promise.resolve(), what = "condition" } = options;
    const start = this.now;
    await flush();
    while (!(await condition())) {
      if (this.now - start >= maxMs) throw new Error(`${what}: not reached within ${maxMs} ms of clock time`);
      await this.advance(stepMs, flush);
    }
    return this.now - start;
  }
}

/** The real clock. Each timer belongs to whoever called `after` and holds its cancel function. */
export const systemClock: Clock = {
  nowMs: () => performance.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
