// The CPU governor: keeps an emulator within a budget (percent of one core) by
// running it in short slices and resting in between. It steers by the time the
// emulator was actually busy, measured, not by the plan: a stop takes effect only
// at the emulator's next tick, and timers fire late, so the plan always drifts.
//
// Each check compares the busy time so far with what the budget allows for the
// wall time so far; when busy time is ahead, the emulator rests until the budget
// catches up. An idle guest (halted CPU) is never stopped, since it is not busy.
// Credit saved while idle is capped at one period, so a guest waking up cannot
// burst at full speed for long. Input (a keystroke) cuts a rest short, so the
// guest answers at once; the rest it owes is carried, not forgiven, and a guest
// deep in debt (busy, typed at nonstop) waits its rest out.
//
// A budget of 0 holds the emulator (state "held"): the device needs every cycle
// now (the adaptive back-off, backoff.ts). A budget above 0 lets it run again.

import type { Clock } from "../util/clock.ts";
import { BudgetLedger, clampBudgetPct } from "./budget-ledger.ts";
import { BusySampler, UsageAverage } from "./usage-meter.ts";

export { clampBudgetPct, MAX_BUDGET_PCT, MIN_BUDGET_PCT } from "./budget-ledger.ts";

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

export type GovernorState = "idle" | "running" | "resting" | "held" | "paused" | "stopped";

export class Governor {
  /** The budget and how far busy time is ahead of it. */
  private readonly ledger: BudgetLedger;
  private readonly sampler: BusySampler;
  /** Reporting totals and average. */
  private readonly average: UsageAverage;
  private state: GovernorState = "idle";
  private cancelTimer: (() => void) | null = null;
  /** Changes on every pause/stop, so stale async continuations do nothing. */
  private generation = 0;
  /** Input came while the emulator was stopping for a rest. */
  private wakeWhenStopped = false;
  /** The budget is 0: the emulator stays stopped until it is raised. */
  private holding: boolean;

  constructor(
    private readonly emulator: GovernedEmulator,
    private readonly clock: Clock,
    options: GovernorOptions,
  ) {
    this.holding = options.budgetPct <= 0;
    this.ledger = new BudgetLedger(options.budgetPct, options.periodMs ?? 20);
    this.sampler = new BusySampler(emulator, clock);
    this.average = new UsageAverage(options.reportWindowMs ?? 2000);
  }

  /** Starts (or resumes) running the emulator under the budget. */
  start(): void {
    if (this.state === "running" || this.state === "resting" || this.state === "stopped") return;
    this.generation++;
    this.sampler.restart();
    if (this.holding) this.state = "held";
    else this.runSlice();
  }

  resume(): void {
    if (this.state === "paused") this.start();
  }

  /** Stops the emulator until `resume()`. Time paused (or held) does not count. */
  async pause(): Promise<void> {
    if (this.state === "held") {
      this.halt("paused");
      return;
    }
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

  /**
   * Input arrived: a resting emulator runs now instead of at the end of its rest,
   * unless its busy time is already more than one period ahead of the budget
   * (then the budget comes first).
   */
  wake(): void {
    if (this.state !== "resting") return; // a held emulator stays held: the device comes first
    if (this.cancelTimer === null) {
      this.wakeWhenStopped = true; // still stopping: decided once it has
      return;
    }
    this.sample();
    if (this.ledger.busyAheadMs() > this.ledger.periodMs) return;
    this.cancelTimer();
    this.cancelTimer = null;
    this.runSlice();
  }

  /** A new budget; 0 holds the emulator until a budget above 0 comes. */
  setBudget(pct: number): void {
    const hold = !(pct > 0);
    if (!hold && clampBudgetPct(pct) !== this.ledger.budgetPct) {
      this.ledger.setBudgetPct(pct);
      // A rest planned under the old budget ends: the next check plans by the new one.
      if (this.state === "resting" && this.cancelTimer !== null && !this.holding) {
        this.cancelTimer();
        this.cancelTimer = null;
        this.sampler.restart();
        this.runSlice();
      }
    }
    if (hold === this.holding) return;
    this.holding = hold;
    if (hold) void this.hold();
    else if (this.state === "held") this.start();
  }

  private async hold(): Promise<void> {
    if (this.state !== "running" && this.state !== "resting") return;
    const wasRunning = this.state === "running";
    this.halt("held");
    if (wasRunning) await this.emulator.stop();
    this.sample();
  }

  usage(): GovernorUsage {
    if (this.state === "running" || this.state === "resting") this.sample();
    return {
      budgetPct: this.holding ? 0 : this.ledger.budgetPct,
      usedPct: this.average.usedPct,
      busyMs: this.average.busyMs,
      wallMs: this.average.wallMs,
      state: this.state,
    };
  }

  private halt(next: GovernorState): void {
    this.generation++;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.wakeWhenStopped = false;
    this.state = next;
  }

  /** Adds the busy and wall time since the last sample to the ledger and the report. */
  private sample(): void {
    const step = this.sampler.sample();
    if (!step) return;
    this.ledger.add(step.busyMs, step.wallMs);
    this.average.add(step.busyMs, step.wallMs);
  }

  private runSlice(): void {
    this.state = "running";
    this.emulator.run();
    this.scheduleCheck();
  }

  private scheduleCheck(): void {
    this.cancelTimer = this.clock.after(this.ledger.checkIntervalMs(), () => void this.check());
  }

  private async check(): Promise<void> {
    const generation = this.generation;
    this.cancelTimer = null;
    this.sample();
    if (!this.ledger.owesRest()) {
      this.scheduleCheck();
      return;
    }
    this.state = "resting";
    await this.emulator.stop();
    if (generation !== this.generation) return;
    this.sample(); // the overshoot while stopping counts too
    const restMs = Math.max(0, this.ledger.debtMs());
    this.cancelTimer = this.clock.after(restMs, () => {
      this.cancelTimer = null;
      this.sample();
      this.runSlice();
    });
    if (this.wakeWhenStopped) {
      this.wakeWhenStopped = false;
      this.wake();
    }
  }
}
