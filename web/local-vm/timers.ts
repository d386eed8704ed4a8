// Named timers on an injected clock, so whoever starts them can end them all at
// once (and tests can drive them with a ManualClock).
import type { Clock } from "../../core/util/clock.ts";

export class Timers {
  private readonly cancels = new Map<string, () => void>();

  constructor(private readonly clock: Clock) {}

  /** Calls `fn` once after `ms`; a timer of the same name that is still pending is replaced. */
  after(name: string, ms: number, fn: () => void): void {
    this.cancel(name);
    const cancel = this.clock.after(ms, () => {
      this.cancels.delete(name);
      fn();
    });
    this.cancels.set(name, cancel);
  }

  /** Calls `fn` every `ms` until cancelled. */
  every(name: string, ms: number, fn: () => void): void {
    const tick = () => {
      this.after(name, ms, tick);
      fn();
    };
    this.after(name, ms, tick);
  }

  cancel(name: string): void {
    this.cancels.get(name)?.();
    this.cancels.delete(name);
  }

  cancelAll(): void {
    for (const cancel of this.cancels.values()) cancel();
    this.cancels.clear();
  }
}
