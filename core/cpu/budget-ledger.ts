// The governor's policy: how much busy time the budget allows for the wall time
// so far, and so how long the emulator must rest. Credit (wall time the budget
// allowed but the guest did not use) is capped at one period, so a guest waking
// up after an idle spell cannot burst at full speed for long.

export const MIN_BUDGET_PCT = 1;
export const MAX_BUDGET_PCT = 100;

export function clampBudgetPct(pct: number): number {
  if (!Number.isFinite(pct)) return MAX_BUDGET_PCT;
  return Math.min(MAX_BUDGET_PCT, Math.max(MIN_BUDGET_PCT, pct));
}

export class BudgetLedger {
  /** The budget as a share of one core, 0.01..1. */
  private budgetFraction: number;
  /** Control totals (credit-capped). */
  private busyMs = 0;
  private wallMs = 0;

  constructor(
    budgetPct: number,
    /** Length of one run-and-rest cycle, and the cap on saved credit. */
    readonly periodMs: number,
  ) {
    this.budgetFraction = clampBudgetPct(budgetPct) / 100;
  }

  get budgetPct(): number {
    return this.budgetFraction * 100;
  }

  /**
   * A new budget starts a new account: busy time spent under the old one is not
   * reread at the new rate (50 % for a minute, then 5 %, would owe nine minutes of rest).
   */
  setBudgetPct(pct: number): void {
    const fraction = clampBudgetPct(pct) / 100;
    if (fraction === this.budgetFraction) return;
    this.budgetFraction = fraction;
    this.busyMs = 0;
    this.wallMs = 0;
  }

  /** Counts busy time used over wall time passed. */
  add(busyMs: number, wallMs: number): void {
    this.busyMs += busyMs;
    this.wallMs += wallMs;
    const creditMs = this.wallMs - this.busyMs / this.budgetFraction;
    if (creditMs > this.periodMs) this.wallMs -= creditMs - this.periodMs;
  }

  /** Whether the emulator must rest now: the budget is below a whole core and busy time is ahead of it. */
  owesRest(): boolean {
    return !(this.budgetFraction >= 1 || this.debtMs() <= 0);
  }

  /** Milliseconds of rest owed: how far busy time is ahead of the budget. */
  debtMs(): number {
    return this.busyMs / this.budgetFraction - this.wallMs;
  }

  /** Busy milliseconds beyond what the budget allowed so far (the rest owed, in busy time). */
  busyAheadMs(): number {
    return this.debtMs() * this.budgetFraction;
  }

  /** How often to check a running emulator: often enough that one slice of full-speed work stays near budget×period. */
  checkIntervalMs(): number {
    return Math.max(1, this.periodMs * Math.min(this.budgetFraction, 0.5));
  }
}
