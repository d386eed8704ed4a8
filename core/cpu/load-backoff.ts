// How much of the CPU budget the device's load leaves for others' VMs: the
// control loop behind "nice". Serious or critical compute pressure, or the
// page's own main thread missing frames (long tasks), cut the share at once and
// keep cutting it while they last, down to nothing (paused), not to a floor.
// Calm brings it back only after a hold, one small step at a time; a relapse
// soon after a rise doubles the hold, so an input that oscillates around a
// threshold makes a bounded number of changes instead of flapping.

export type PressureState = "nominal" | "fair" | "serious" | "critical";

/** What the device's load asks for: nothing, less, much less. */
export type Load = "calm" | "busy" | "overloaded";

/** Why the load is not calm: the machine (pressure) or this page (long tasks). */
export type LoadCause = "system" | "page";

export interface LoadSignals {
  pressure: PressureState | null;
  /** Long tasks (over 50 ms) of the page's main thread in the last few seconds. */
  longTasks: number;
}

export interface LoadBackoffOptions {
  /** How often a lasting load cuts the share again. */
  stepMs?: number;
  /** Calm needed before the share rises at all (doubles on a relapse). */
  holdMs?: number;
  /** The longest the hold grows to. */
  maxHoldMs?: number;
  /** How much the share rises per step, and how often. */
  riseStep?: number;
  riseEveryMs?: number;
  /** Load within this long of a rise counts as a relapse. */
  relapseWindowMs?: number;
}

/** Shares are multiples of this (so small cuts do not make new values forever); below it, paused. */
export const SHARE_QUANTUM = 0.05;

const CUTS: Record<Exclude<Load, "calm">, { cap: number; factor: number; everySteps: number }> = {
  // At once to a quarter, then halving each step: paused after three steps.
  overloaded: { cap: 0.25, factor: 0.5, everySteps: 1 },
  // At once to half, then three quarters every other step: paused after about twelve steps.
  busy: { cap: 0.5, factor: 0.75, everySteps: 2 },
};

export function loadOf(s: LoadSignals): { load: Load; cause: LoadCause | null } {
  if (s.pressure === "critical") return { load: "overloaded", cause: "system" };
  if (s.longTasks >= 6) return { load: "overloaded", cause: "page" };
  if (s.pressure === "serious") return { load: "busy", cause: "system" };
  if (s.longTasks >= 3) return { load: "busy", cause: "page" };
  return { load: "calm", cause: null };
}

function quantize(share: number): number {
  const q = Math.floor(share / SHARE_QUANTUM + 1e-9) * SHARE_QUANTUM;
  return q < SHARE_QUANTUM ? 0 : Math.min(1, Number(q.toFixed(2)));
}

export class LoadBackoff {
  private shareNow = 1;
  private readonly o: Required<LoadBackoffOptions>;
  private holdNowMs: number;
  private lastCutAtMs = Number.NEGATIVE_INFINITY;
  private lastRiseAtMs: number | null = null;
  private calmSinceMs: number | null = null;
  private lastCause: LoadCause | null = null;
  private loadNow: Load = "calm";

  constructor(options: LoadBackoffOptions = {}) {
    this.o = {
      stepMs: options.stepMs ?? 1000,
      holdMs: options.holdMs ?? 10_000,
      maxHoldMs: options.maxHoldMs ?? 300_000,
      riseStep: options.riseStep ?? 0.1,
      riseEveryMs: options.riseEveryMs ?? 2000,
      relapseWindowMs: options.relapseWindowMs ?? 60_000,
    };
    this.holdNowMs = this.o.holdMs;
  }

  get share(): number {
    return this.shareNow;
  }

  get load(): Load {
    return this.loadNow;
  }

  /** What last made the share fall (kept while it recovers). */
  get cause(): LoadCause | null {
    return this.lastCause;
  }

  /** The calm currently needed before a rise. */
  get holdMs(): number {
    return this.holdNowMs;
  }

  /** Feeds the signals now; returns the share of the budget (0..1) to use. */
  update(signals: LoadSignals, nowMs: number): number {
    const { load, cause } = loadOf(signals);
    this.loadNow = load;
    if (load === "calm") this.calm(nowMs);
    else this.cut(load, cause ?? "system", nowMs);
    return this.shareNow;
  }

  private cut(load: Exclude<Load, "calm">, cause: LoadCause, nowMs: number): void {
    if (this.calmSinceMs !== null && this.lastRiseAtMs !== null) {
      // Load came back soon after the share rose: wait longer next time.
      if (nowMs - this.lastRiseAtMs < this.o.relapseWindowMs)
        this.holdNowMs = Math.min(this.o.maxHoldMs, this.holdNowMs * 2);
    }
    this.calmSinceMs = null;
    this.lastCause = cause;
    const c = CUTS[load];
    if (this.shareNow > c.cap) {
      this.shareNow = c.cap;
      this.lastCutAtMs = nowMs;
    } else if (nowMs - this.lastCutAtMs >= c.everySteps * this.o.stepMs) {
      this.shareNow = quantize(this.shareNow * c.factor);
      this.lastCutAtMs = nowMs;
    }
  }

  private calm(nowMs: number): void {
    this.calmSinceMs ??= nowMs;
    const calmForMs = nowMs - this.calmSinceMs;
    if (this.shareNow >= 1) {
      // A long calm at full share forgives past relapses.
      if (calmForMs >= this.o.relapseWindowMs) {
        this.holdNowMs = this.o.holdMs;
        this.lastCause = null;
      }
      return;
    }
    if (calmForMs < this.holdNowMs) return;
    if (this.lastRiseAtMs !== null && nowMs - this.lastRiseAtMs < this.o.riseEveryMs) return;
    this.shareNow = quantize(this.shareNow + this.o.riseStep + 1e-9);
    this.lastRiseAtMs = nowMs;
  }
}
