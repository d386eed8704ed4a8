// Being nice beyond the budget: how much of the CPU budget offered to others' VMs
// to actually use, given what the device says about itself. Compute pressure, a battery running
// low, and the page's own main thread missing frames (long tasks) each lower the
// share; it comes back up only after things have been calm for a while
// (hysteresis), one step at a time, so the VM slows down smoothly instead of
// flapping between on and off.

export type PressureState = "nominal" | "fair" | "serious" | "critical";

export interface DeviceSignals {
  pressure: PressureState | null;
  /** null when unknown (no Battery API). */
  battery: { charging: boolean; level: number } | null;
  /** Long tasks (over 50 ms) the page's main thread had in the last `longTaskWindowMs`. */
  longTasks: number;
}

export interface PressurePolicyOptions {
  /** How long conditions must stay better before the share goes up one step. */
  recoverAfterMs?: number;
  /** How much the share rises per step. */
  stepUp?: number;
  /** Below this battery level (not charging) the VMs pause. */
  batteryStopLevel?: number;
  /** Below this battery level (not charging) the share is halved. */
  batteryLowLevel?: number;
}

/** The highest share (0..1) the signals allow right now. */
export function allowedShare(s: DeviceSignals, o: Required<PressurePolicyOptions>): number {
  let share = 1;
  // "fair" is ordinary use; the VMs themselves add to the pressure, so even
  // "critical" only slows them down (pausing would just make it flap).
  if (s.pressure === "serious") share = Math.min(share, 0.5);
  if (s.pressure === "critical") share = Math.min(share, 0.25);
  if (s.battery && !s.battery.charging) {
    if (s.battery.level < o.batteryStopLevel) share = 0;
    else if (s.battery.level < o.batteryLowLevel) share = Math.min(share, 0.5);
  }
  if (s.longTasks >= 6) share = Math.min(share, 0.25);
  else if (s.longTasks >= 3) share = Math.min(share, 0.5);
  return share;
}

export class PressurePolicy {
  private share = 1;
  private calmSinceMs: number | null = null;
  private readonly o: Required<PressurePolicyOptions>;

  constructor(options: PressurePolicyOptions = {}) {
    this.o = {
      recoverAfterMs: options.recoverAfterMs ?? 10_000,
      stepUp: options.stepUp ?? 0.25,
      batteryStopLevel: options.batteryStopLevel ?? 0.15,
      batteryLowLevel: options.batteryLowLevel ?? 0.4,
    };
  }

  /** Feeds the current signals; returns the share of the budget to use (0..1). */
  update(signals: DeviceSignals, nowMs: number): number {
    const allowed = allowedShare(signals, this.o);
    if (allowed < this.share) {
      // Down at once: the device needs the CPU now.
      this.share = allowed;
      this.calmSinceMs = null;
    } else if (allowed > this.share) {
      this.calmSinceMs ??= nowMs;
      if (nowMs - this.calmSinceMs >= this.o.recoverAfterMs) {
        this.share = Math.min(allowed, this.share + this.o.stepUp);
        this.calmSinceMs = this.share < allowed ? nowMs : null;
      }
    } else {
      this.calmSinceMs = null;
    }
    return this.share;
  }

  current(): number {
    return this.share;
  }
}

/** The budget to give a governor: the user's budget scaled by the share (0 means pause). */
export function effectiveBudgetPct(userBudgetPct: number, share: number): number {
  return Math.round(userBudgetPct * share);
}
