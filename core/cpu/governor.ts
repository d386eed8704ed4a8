// The CPU governor: keeps an emulator within a budget (percent of one core) by
// running it in short slices and resting in between. It steers by the time the
// emulator was actually busy, measured, not by the plan: a stop takes effect only
// at the emulator's next tick, and timers fire late, so the plan always drifts.
//
// Each check compares the busy time so far with what the budget allows for the
// wall time so far; when busy time is ahead, the emulator rests until the budget
// catches up. An idle guest (halted CPU) is never stopped, since it is not busy.
// Credit saved while idle is capped at one period, so a guest waking up cannot
// burst at full speed for long.

import type { Clock } from "../util/clock.ts";

export interface GovernedEmulator {
  run(): void;
  /** Resolves once the emulator has really stopped. */
  stop(): Promise<void>;
  /** Monotonic milliseconds the emulator has spent emulating. */
  busyMs(): number;
}

export interface GovernorOptions {
  budgetPct: number;
  /** Length of one run-and-rest cycle. */
  periodMs?: number;
  /** Time constant of the reported usage average. */
  reportWindowMs?: number;
}

export interface GovernorUsage {
  budgetPct: number;
  /** Share of one core the emulator used recently, in percent. */
  usedPct: number;
  /** Busy and wall time since the governor started, excluding pauses. */
  busyMs: number;
  wallMs: number;
  state: GovernorState;
}

export type GovernorState = "idle" | "running" | "resting" | "paused" | "stopped";

export const MIN_BUDGET_PCT = 1;
export const MAX_BUDGET_PCT = 100;

export function clampBudgetPct(pct: number): number {
  if (!Number.isFinite(pct)) return MAX_BUDGET_PCT;
  return Math.min(MAX_BUDGET_PCT, Math.max(MIN_BUDGET_PCT, pct));
}

export class Governor {
  private budget: number;
  private readonly periodMs: number;
  private readonly reportWindowMs: number;
  private state: GovernorState = "idle";
  private cancelTimer: (() => void) | null = null;
  /** Control totals (credit-capped). */
  private ctlBusyMs = 0;
  private ctlWallMs = 0;
  /** Reporting totals and average. */
  private totalBusyMs = 0;
  private totalWallMs = 0;
  private avgUsed = 0;
  private avgWeight = 0;
  private lastAtMs = 0;
  private lastBusyMs = 0;
  /** Changes on every pause/stop, so stale async continuations do nothing. */
  private generation = 0;

  constructor(
    private readonly emulator: GovernedEmulator,
    private readonly clock: Clock,
    options: GovernorOptions,
  ) {
    this.budget = clampBudgetPct(options.budgetPct) / 100;
    this.periodMs = options.periodMs ?? 20;
    this.reportWindowMs = options.reportWindowMs ?? 2000;
  }

  /** Starts (or resumes) running the emulator under the budget. */
  start(): void {
    if (this.state === "running" || this.state === "resting" || this.state === "stopped") return;
    this.generation++;
    this.lastAtMs = this.clock.nowMs();
    this.lastBusyMs = this.emulator.busyMs();
    this.runSlice();
  }

  resume(): void {
    if (this.state === "paused") this.start();
  }

  /** Stops the emulator until `resume()`. Time paused does not count. */
  async pause(): Promise<void> {
    if (this.state !== "running" && this.state !== "resting") return;
    const wasRunning = this.state === "running";
    this.halt("paused");
    if (wasRunning) await this.emulator.stop();
    this.sample();
  }

  /** Ends governing for good; the emulator is left stopped. */
  async stop(): Promise<void> {
    const wasRunning = this.state === "running";
    this.halt("stopped");
    if (wasRunning) await this.emulator.stop();
  }

  setBudget(pct: number): void {
    this.budget = clampBudgetPct(pct) / 100;
  }

  usage(): GovernorUsage {
    if (this.state === "running" || this.state === "resting") this.sample();
    return {
      budgetPct: this.budget * 100,
      usedPct: this.avgWeight > 0 ? (this.avgUsed / this.avgWeight) * 100 : 0,
      busyMs: this.totalBusyMs,
      wallMs: this.totalWallMs,
      state: this.state,
    };
  }

  private halt(next: GovernorState): void {
    this.generation++;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.state = next;
  }

  /** Adds the busy and wall time since the last sample to the totals. */
  private sample(): void {
    const now = this.clock.nowMs();
    const busyNow = this.emulator.busyMs();
    const wall = Math.max(0, now - this.lastAtMs);
    const busy = Math.max(0, Math.min(wall, busyNow - this.lastBusyMs));
    this.lastAtMs = now;
    this.lastBusyMs = busyNow;
    if (wall <= 0) return;
    this.ctlBusyMs += busy;
    this.ctlWallMs += wall;
    // Credit (wall time the budget allowed but the guest did not use) is capped.
    const credit = this.ctlWallMs - this.ctlBusyMs / this.budget;
    if (credit > this.periodMs) this.ctlWallMs -= credit - this.periodMs;
    this.totalBusyMs += busy;
    this.totalWallMs += wall;
    // Exponential average with bias correction, so early reports are not pulled toward 0.
    const weight = 1 - Math.exp(-wall / this.reportWindowMs);
    this.avgUsed += (busy / wall - this.avgUsed) * weight;
    this.avgWeight += (1 - this.avgWeight) * weight;
  }

  /** Milliseconds of rest owed: how far busy time is ahead of the budget. */
  private debtMs(): number {
    return this.ctlBusyMs / this.budget - this.ctlWallMs;
  }

  private runSlice(): void {
    this.state = "running";
    this.emulator.run();
    this.scheduleCheck();
  }

  private scheduleCheck(): void {
    // Check often enough that one slice of full-speed work stays near budget×period.
    const checkMs = Math.max(1, this.periodMs * Math.min(this.budget, 0.5));
    this.cancelTimer = this.clock.after(checkMs, () => void this.check());
  }

  private async check(): Promise<void> {
    const generation = this.generation;
    this.cancelTimer = null;
    this.sample();
    if (this.budget >= 1 || this.debtMs() <= 0) {
      this.scheduleCheck();
      return;
    }
    this.state = "resting";
    await this.emulator.stop();
    if (generation !== this.generation) return;
    this.sample(); // the overshoot while stopping counts too
    const restMs = Math.max(0, this.debtMs());
    this.cancelTimer = this.clock.after(restMs, () => {
      this.cancelTimer = null;
      this.sample();
      this.runSlice();
    });
  }
}
