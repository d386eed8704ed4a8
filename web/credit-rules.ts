// This tab's credit rules. The defaults are the network's (core/ledger); tests
// may lower the stamp difficulty and the payment grace through the page's URL
// (`?stampBits=8&paymentGraceMs=2000`). A tab that lowers them is generous only
// itself: it counts cheaper stamps as allowance, and it waits less before
// pausing the VMs it hosts.
import { STAMP_BITS } from "../core/ledger/stamp.ts";

export interface CreditRules {
  stampBits: number;
  /** How long a hosted VM's receipts may stay behind before it slows (and as long again before it pauses). */
  paymentGraceMs: number;
}

export const DEFAULT_PAYMENT_GRACE_MS = 30_000;

function bounded(raw: string | null, min: number, max: number, fallback: number): number {
  const n = raw === null ? Number.NaN : Number(raw);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

export function creditRulesFrom(search: string): CreditRules {
  const q = new URLSearchParams(search);
  return {
    stampBits: bounded(q.get("stampBits"), 4, STAMP_BITS, STAMP_BITS),
    paymentGraceMs: bounded(q.get("paymentGraceMs"), 500, 3_600_000, DEFAULT_PAYMENT_GRACE_MS),
  };
}
