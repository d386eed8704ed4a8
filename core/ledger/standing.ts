// What an owner's account lets it do on a host: the ratio decides, as on a
// private tracker. Pure, so every host applies the same rule to the same ledger.
//
// - A proof of cheating against the owner: refused, and its running VMs paused.
// - No balance left: refused (a running VM's receipts stop, so it pauses).
// - Living on what others gave (it spent more than its allowance, and its ratio
//   earned / spent is under 1): its VMs run at most at `ratio` of the host's
//   budget, never under MIN_STANDING_FACTOR. Contributing raises the ratio, so
//   "what you give is what you can use".
import type { Account, Ledger } from "./ledger.ts";
import { formatCredits } from "./units.ts";

export const MIN_STANDING_FACTOR = 0.25;

export type Standing =
  | { admit: true; budgetFactor: number; reason: string }
  | { admit: false; code: "no-credit" | "cheater"; reason: string };

export function standingOf(ledger: Ledger, owner: string): Standing {
  if (ledger.cheaters.has(owner))
    return {
      admit: false,
      code: "cheater",
      reason:
        "a proof of cheating (two different receipts for one lease, or a total that went back) is held against the owner",
    };
  const a: Account | undefined = ledger.accounts.get(owner);
  if (!a || a.balanceMilli <= 0)
    return {
      admit: false,
      code: "no-credit",
      reason: `the owner has no credit left (${formatCredits(a?.balanceMilli ?? 0)}): contribute to earn some, or earn the starting allowance on the Credits page`,
    };
  return { admit: true, ...budgetOf(a) };
}

function budgetOf(a: Account): { budgetFactor: number; reason: string } {
  if (a.spentMilli <= a.allowanceMilli || a.ratio === null || a.ratio >= 1)
    return { budgetFactor: 1, reason: "" };
  const budgetFactor = Math.max(MIN_STANDING_FACTOR, a.ratio);
  return {
    budgetFactor,
    reason: `capped at ${Math.round(budgetFactor * 100)} % of the budget: the owner's ratio is ${a.ratio.toFixed(2)} (contribute to raise it)`,
  };
}

/**
 * How strongly a host prefers an owner when it must choose (its slots are full):
 * an owner whose VM here is not paid up ranks lowest; then by ratio (an owner
 * still on its allowance counts as giving as much as it takes), capped at 2.
 */
export function preferenceScore(a: Account | undefined, paidUp = true): number {
  if (!paidUp) return -1;
  if (!a) return 0;
  if (a.spentMilli <= a.allowanceMilli || a.ratio === null) return 1;
  return Math.min(2, a.ratio);
}

/** How much better a newcomer must rank for a host to give it a running VM's slot. */
export const PREFERENCE_MARGIN = 0.5;
