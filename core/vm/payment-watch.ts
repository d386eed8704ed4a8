// The host's side of being paid: what its meter counted for a lease against the
// newest receipt the owner signed. While receipts keep up the VM runs at its
// budget; when they fall behind the VM is throttled, and after a grace period
// paused, with the reason said to both sides. A paused VM keeps its checkpoint
// and runs again once paid up: nothing is lost for lack of credit.
// Pure: times are passed in, so hosts and tests drive it alike.

import type { PaymentState } from "./vm-protocol.ts";

export type { PaymentState } from "./vm-protocol.ts";

export interface PaymentVerdict {
  state: PaymentState;
  /** What share of its budget the VM may use (1 while paid, less while throttled, 0 paused). */
  budgetFactor: number;
  /** Milli-credits the meter counted that no receipt covers yet. */
  unpaidMilli: number;
  /** For people, on both sides; empty while paid. */
  reason: string;
}

export interface PaymentWatchOptions {
  /** Unpaid work tolerated before anything happens (receipts come in rounds). */
  slackMilli?: number;
  /** How long the owner may stay behind the slack before the VM is throttled. */
  throttleAfterMs?: number;
  /** And how long more, throttled, before it is paused. */
  pauseAfterMs?: number;
  throttledFactor?: number;
}

export class PaymentWatch {
  private meteredMilli = 0;
  private paidMilli = 0;
  /** Since when the unpaid work has been above the slack; null while it is not. */
  private behindSinceMs: number | null = null;
  private readonly o: Required<PaymentWatchOptions>;

  constructor(options: PaymentWatchOptions = {}) {
    this.o = {
      slackMilli: 500,
      throttleAfterMs: 30_000,
      pauseAfterMs: 60_000,
      throttledFactor: 0.25,
      ...options,
    };
  }

  /** The host's meter for the lease now reads `milli` (cumulative). */
  noteMeter(milli: number, nowMs: number): void {
    this.meteredMilli = Math.max(this.meteredMilli, milli);
    this.update(nowMs);
  }

  /** The owner's newest receipt for the lease says `milli` (cumulative). */
  noteReceipt(milli: number, nowMs: number): void {
    this.paidMilli = Math.max(this.paidMilli, milli);
    this.update(nowMs);
  }

  verdict(nowMs: number): PaymentVerdict {
    this.update(nowMs);
    const unpaidMilli = Math.max(0, this.meteredMilli - this.paidMilli);
    const behindMs = this.behindSinceMs === null ? 0 : nowMs - this.behindSinceMs;
    if (behindMs >= this.o.throttleAfterMs + this.o.pauseAfterMs)
      return {
        state: "paused",
        budgetFactor: 0,
        unpaidMilli,
        reason:
          "Paused: the owner has not signed for this VM's work. It resumes, with its files, once paid up.",
      };
    if (behindMs >= this.o.throttleAfterMs)
      return {
        state: "throttled",
        budgetFactor: this.o.throttledFactor,
        unpaidMilli,
        reason: "Slowed down: the owner's receipts are behind this VM's work; it pauses if they stay behind.",
      };
    return { state: "paid", budgetFactor: 1, unpaidMilli, reason: "" };
  }

  private update(nowMs: number): void {
    const behind = this.meteredMilli - this.paidMilli > this.o.slackMilli;
    if (!behind) this.behindSinceMs = null;
    else this.behindSinceMs ??= nowMs;
  }
}
