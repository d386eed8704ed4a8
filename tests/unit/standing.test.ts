// What an owner's account lets it do on a host: refused with a proof of cheating
// or without balance; capped by its ratio once it lives on what others gave.
import { describe, expect, it } from "vitest";
import type { Account, Ledger } from "../../core/ledger/ledger.ts";
import {
  MIN_STANDING_FACTOR,
  PREFERENCE_MARGIN,
  preferenceScore,
  standingOf,
} from "../../core/ledger/standing.ts";

const OWNER = "o".repeat(32);

function ledger(a: Partial<Account> | null, cheater = false): Ledger {
  const account: Account = {
    peer: OWNER,
    allowanceMilli: 5000,
    earnedMilli: 0,
    spentMilli: 0,
    balanceMilli: 5000,
    ratio: null,
    ...a,
  };
  return {
    accounts: new Map(a ? [[OWNER, account]] : []),
    leases: [],
    proofs: [],
    cheaters: new Set(cheater ? [OWNER] : []),
  };
}

describe("standing", () => {
  it("refuses an unknown owner or one with nothing left, and says what to do", () => {
    for (const l of [ledger(null), ledger({ balanceMilli: 0 }), ledger({ balanceMilli: -10 })]) {
      const s = standingOf(l, OWNER);
      expect(s).toMatchObject({ admit: false, code: "no-credit" });
      expect(s.reason).toMatch(/contribute/);
    }
  });

  it("refuses an owner with a proof of cheating, whatever its balance", () => {
    expect(standingOf(ledger({ balanceMilli: 10 ** 9 }, true), OWNER)).toMatchObject({
      admit: false,
      code: "cheater",
    });
  });

  it("runs a new owner on its allowance, or one that gives as much as it takes, at the full budget", () => {
    expect(standingOf(ledger({ spentMilli: 4000, balanceMilli: 1000 }), OWNER)).toMatchObject({
      admit: true,
      budgetFactor: 1,
    });
    const giver = { earnedMilli: 9000, spentMilli: 9000, balanceMilli: 5000, ratio: 1 };
    expect(standingOf(ledger(giver), OWNER)).toMatchObject({ admit: true, budgetFactor: 1 });
  });

  it("caps an owner living on others' work by its ratio, never under the floor", () => {
    const taker = { earnedMilli: 3000, spentMilli: 6000, balanceMilli: 2000, ratio: 0.5 };
    const s = standingOf(ledger(taker), OWNER);
    expect(s).toMatchObject({ admit: true, budgetFactor: 0.5 });
    expect(s.reason).toMatch(/ratio is 0.50/);
    const worse = { earnedMilli: 500, spentMilli: 5400, balanceMilli: 100, ratio: 500 / 5400 };
    expect(standingOf(ledger(worse), OWNER)).toMatchObject({ budgetFactor: MIN_STANDING_FACTOR });
  });
});

describe("preference when a host must choose", () => {
  it("ranks unpaid VMs lowest, then owners by ratio, capped", () => {
    const onAllowance = ledger({ spentMilli: 1000 }).accounts.get(OWNER);
    const taker = ledger({ earnedMilli: 1000, spentMilli: 8000, ratio: 0.125 }).accounts.get(OWNER);
    const giver = ledger({ earnedMilli: 90_000, spentMilli: 9000, ratio: 10 }).accounts.get(OWNER);
    expect(preferenceScore(onAllowance, false)).toBe(-1);
    expect(preferenceScore(undefined)).toBe(0);
    expect(preferenceScore(taker)).toBe(0.125);
    expect(preferenceScore(onAllowance)).toBe(1);
    expect(preferenceScore(giver)).toBe(2);
    expect(preferenceScore(onAllowance) - preferenceScore(taker)).toBeGreaterThanOrEqual(PREFERENCE_MARGIN);
  });
});
