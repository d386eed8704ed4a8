// Every peer computes the same balances from the same receipts, whatever order
// they arrived in, however often, and however the peers' sets were merged.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { computeLedger, type Ledger } from "../../core/ledger/ledger.ts";
import { RECEIPT_KIND, type Receipt, type ReceiptEntry, signReceipt } from "../../core/ledger/receipt.ts";
import { checkReceipts } from "../../core/ledger/verify.ts";

const T0 = 1_700_000_000_000;
let pool: unknown[] = [];
let allowances = new Map<string, number>();

async function lease(
  owner: Identity,
  host: Identity,
  lease: string,
  totals: number[],
): Promise<ReceiptEntry[]> {
  return Promise.all(
    totals.map((milliCredits, i) =>
      signReceipt(owner, {
        lease: lease.repeat(64),
        vm: "e".repeat(32),
        host: host.peerId,
        epoch: 1,
        seq: i + 1,
        startedAt: T0,
        at: T0 + (i + 1) * 5000,
        milliCredits,
      }),
    ),
  );
}

beforeAll(async () => {
  const [a, b, c, m] = await Promise.all([1, 2, 3, 4].map(() => createIdentity()));
  const honestAB = await lease(a!, b!, "1", [100, 200, 300, 450]);
  const honestBC = await lease(b!, c!, "2", [50, 80]);
  const honestCA = await lease(c!, a!, "3", [2000, 4000]); // C spends more than it has: scaled
  const regress = await lease(a!, c!, "4", [500, 100]);
  const [eq1] = await lease(b!, a!, "5", [70]);
  const [eq2] = await lease(b!, a!, "5", [71]);
  const forged = await signEntry<Receipt>(m!, RECEIPT_KIND, {
    ...honestAB[3]!.payload,
    seq: 9,
    milliCredits: 9999,
  });
  const tampered = { ...honestBC[1]!, payload: { ...honestBC[1]!.payload, milliCredits: 7 } };
  pool = [...honestAB, ...honestBC, ...honestCA, ...regress, eq1, eq2, forged, tampered, { junk: true }];
  allowances = new Map([
    [a!.peerId, 1000],
    [b!.peerId, 1000],
    [c!.peerId, 1000],
  ]);
});

async function summary(raw: unknown[]): Promise<unknown> {
  const { receipts } = await checkReceipts(raw);
  const l: Ledger = computeLedger({ receipts, allowances });
  return {
    accounts: [...l.accounts.values()].sort((x, y) => (x.peer < y.peer ? -1 : 1)),
    proofs: l.proofs.map((p) => [
      p.kind,
      p.owner,
      p.lease,
      p.a.signature,
      p.kind === "over-claim" ? "" : p.b.signature,
    ]),
    cheaters: [...l.cheaters].sort(),
  };
}

describe("ledger, as a property", () => {
  it("gives identical balances and proofs for any order, copies and merges of the same entries", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: 63 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat({ max: 63 }), { maxLength: 30 }),
        fc.infiniteStream(fc.nat()),
        async (picksA, picksB, randomness) => {
          const a = picksA.map((i) => pool[i % pool.length]);
          const b = picksB.map((i) => pool[i % pool.length]);
          // Peer 1 got A then B; peer 2 got B, then A shuffled, with copies of some.
          const one = [...a, ...b];
          const r = randomness[Symbol.iterator]();
          const two = [...b, ...a, ...a.filter(() => (r.next().value as number) % 3 === 0)];
          for (let i = two.length - 1; i > 0; i--) {
            const j = (r.next().value as number) % (i + 1);
            [two[i], two[j]] = [two[j], two[i]];
          }
          expect(await summary(two)).toEqual(await summary(one));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("never lets balances add up to more than the allowances", async () => {
    const { receipts } = await checkReceipts(pool);
    const l = computeLedger({ receipts, allowances });
    const total = [...l.accounts.values()].reduce((s, x) => s + x.balanceMilli, 0);
    expect(total).toBeLessThanOrEqual(3000);
    expect(l.cheaters.size).toBe(2); // A regressed, B equivocated
  });
});
