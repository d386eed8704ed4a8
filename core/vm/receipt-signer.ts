// The owner's side of paying: for one lease, turns the host's meter readings
// into the next receipt to sign. Totals only rise, seq rises with each receipt,
// and no receipt claims more than the lease can have used in its wall time
// (core/ledger/units.ts), whatever the host reports.
import type { Receipt } from "../ledger/receipt.ts";
import { maxMilliFor } from "../ledger/units.ts";

export interface LeaseTerms {
  lease: string;
  vm: string;
  host: string;
  epoch: number;
  startedAt: number;
}

export class ReceiptSigner {
  private seq = 0;
  private totalMilli = 0;

  constructor(private readonly terms: LeaseTerms) {}

  /**
   * The receipt for a meter reading of `meterMilli` at `nowMs`, or null when it
   * would add nothing. The total is capped by what the lease can have used.
   */
  next(meterMilli: number, nowMs: number): Omit<Receipt, "owner"> | null {
    if (!Number.isFinite(meterMilli) || meterMilli < 0) return null;
    const capped = Math.min(Math.floor(meterMilli), maxMilliFor(nowMs - this.terms.startedAt));
    if (capped <= this.totalMilli) return null;
    this.totalMilli = capped;
    this.seq++;
    return { ...this.terms, seq: this.seq, at: Math.max(nowMs, this.terms.startedAt), milliCredits: capped };
  }

  /** Picks up where an earlier tab left off (its newest receipt for the lease). */
  resumeFrom(r: { seq: number; milliCredits: number }): void {
    this.seq = Math.max(this.seq, r.seq);
    this.totalMilli = Math.max(this.totalMilli, r.milliCredits);
  }
}
