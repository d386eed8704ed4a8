// The ledger's rules against hostile input: only the owner's signature makes a
// receipt count, only the newest per lease counts, and the cheats the rules can
// see (equivocation, a lower total after a higher, an over-claim) become proofs.
import { describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { computeLedger, type Ledger } from "../../core/ledger/ledger.ts";
import { RECEIPT_KIND, type Receipt, type ReceiptEntry, signReceipt } from "../../core/ledger/receipt.ts";
import { maxMilliFor } from "../../core/ledger/units.ts";
import { checkReceipts } from "../../core/ledger/verify.ts";

const LEASE = "a".repeat(64);
const VM = "b".repeat(32);
const T0 = 1_700_000_000_000;

async function people() {
  const [owner, host, other, mallory] = await Promise.all([1, 2, 3, 4].map(() => createIdentity()));
  return { owner: owner!, host: host!, other: other!, mallory: mallory! };
}

function receipt(
  owner: Identity,
  host: Identity,
  seq: number,
  milliCredits: number,
  extra: Partial<Receipt> = {},
) {
  return signReceipt(owner, {
    lease: LEASE,
    vm: VM,
    host: host.peerId,
    epoch: 1,
    seq,
    startedAt: T0,
    at: T0 + seq * 10_000,
    milliCredits,
    ...extra,
  });
}

async function ledgerOf(raw: unknown[], allowances: [string, number][] = []): Promise<Ledger> {
  const { receipts } = await checkReceipts(raw);
  return computeLedger({ receipts, allowances: new Map(allowances) });
}

const balance = (l: Ledger, peer: Identity) => l.accounts.get(peer.peerId)?.balanceMilli ?? 0;

describe("ledger", () => {
  it("counts only the newest receipt of a lease: earned by the host, spent by the owner", async () => {
    const { owner, host } = await people();
    const rs = [
      await receipt(owner, host, 1, 100),
      await receipt(owner, host, 2, 250),
      await receipt(owner, host, 3, 400),
    ];
    const l = await ledgerOf([...rs, rs[0], rs[2]], [[owner.peerId, 1000]]);
    expect(balance(l, owner)).toBe(600);
    expect(balance(l, host)).toBe(400);
    expect(l.accounts.get(host.peerId)?.earnedMilli).toBe(400);
    expect(l.accounts.get(owner.peerId)?.ratio).toBe(0);
    expect(l.proofs).toEqual([]);
  });

  it("ignores a receipt whose signature is not its owner's", async () => {
    const { owner, host, mallory } = await people();
    const genuine = await receipt(owner, host, 1, 100);
    // Mallory signs a receipt naming the owner, to make the owner pay her.
    const forged = await signEntry<Receipt>(mallory, RECEIPT_KIND, {
      ...genuine.payload,
      host: mallory.peerId,
      seq: 2,
      milliCredits: 900,
    });
    const tampered = { ...genuine, payload: { ...genuine.payload, milliCredits: 999 } };
    const check = await checkReceipts([genuine, forged, tampered]);
    expect(check.refused).toBe(2);
    const l = computeLedger({ receipts: check.receipts, allowances: new Map([[owner.peerId, 1000]]) });
    expect(balance(l, owner)).toBe(900);
    expect(balance(l, mallory)).toBe(0);
    expect(l.proofs).toEqual([]);
  });

  it("a receipt replayed for another host or lease does not count there", async () => {
    const { owner, host, mallory } = await people();
    const genuine = await receipt(owner, host, 1, 100);
    const rehosted = { ...genuine, payload: { ...genuine.payload, host: mallory.peerId } };
    const relabelled = { ...genuine, payload: { ...genuine.payload, lease: "c".repeat(64) } };
    const l = await ledgerOf([genuine, rehosted, relabelled], [[owner.peerId, 1000]]);
    expect(balance(l, mallory)).toBe(0);
    expect(balance(l, host)).toBe(100);
    expect(balance(l, owner)).toBe(900);
  });

  it("a lower total after a higher one is a proof of cheating", async () => {
    const { owner, host } = await people();
    const l = await ledgerOf(
      [await receipt(owner, host, 1, 500), await receipt(owner, host, 2, 200)],
      [[owner.peerId, 1000]],
    );
    expect(l.proofs.map((p) => p.kind)).toEqual(["regression"]);
    expect(l.cheaters.has(owner.peerId)).toBe(true);
  });

  it("two different receipts for one lease and seq are a proof (equivocation)", async () => {
    const { owner, host, other } = await people();
    const a = await receipt(owner, host, 3, 300);
    const b = await receipt(owner, host, 3, 310);
    const l = await ledgerOf([a, b], [[owner.peerId, 1000]]);
    expect(l.proofs.map((p) => p.kind)).toEqual(["equivocation"]);
    expect(l.cheaters).toEqual(new Set([owner.peerId]));
    // So is one lease paid to two hosts.
    const l2 = await ledgerOf([await receipt(owner, host, 1, 10), await receipt(owner, other, 2, 20)]);
    expect(l2.proofs.map((p) => p.kind)).toEqual(["equivocation"]);
  });

  it("an over-claim beyond what the lease could use counts only up to the bound, and is a proof", async () => {
    const { owner, host } = await people();
    const bound = maxMilliFor(10_000);
    const l = await ledgerOf([await receipt(owner, host, 1, bound * 50)], [[owner.peerId, bound * 100]]);
    expect(l.proofs.map((p) => p.kind)).toEqual(["over-claim"]);
    expect(l.accounts.get(host.peerId)?.earnedMilli).toBe(bound);
  });

  it("nobody pays with credit it does not have: colluding Sybils move credit but never make it", async () => {
    const { owner: a, host: b, other: c } = await people();
    // A and B pay each other far more than either has; C gave B real work... none.
    const ab = await receipt(a, b, 5, 40_000);
    const ba = await signReceipt(b, {
      ...ab.payload,
      lease: "d".repeat(64),
      host: a.peerId,
      seq: 5,
      milliCredits: 40_000,
    });
    const l = await ledgerOf(
      [ab, ba],
      [
        [a.peerId, 1000],
        [b.peerId, 1000],
        [c.peerId, 1000],
      ],
    );
    const total = [...l.accounts.values()].reduce((s, x) => s + x.balanceMilli, 0);
    expect(total).toBeLessThanOrEqual(3000);
    for (const x of l.accounts.values()) expect(x.balanceMilli).toBeGreaterThanOrEqual(-1);
  });

  it("an owner that drops its own receipts still owes what the host's copy says", async () => {
    const { owner, host } = await people();
    const rs: ReceiptEntry[] = [await receipt(owner, host, 1, 100), await receipt(owner, host, 2, 300)];
    const both = await ledgerOf(rs, [[owner.peerId, 1000]]);
    // The owner's own copies are gone; the host kept the newest it was given.
    const hostsOnly = await ledgerOf([rs[1]], [[owner.peerId, 1000]]);
    expect(balance(hostsOnly, owner)).toBe(balance(both, owner));
    expect(balance(hostsOnly, host)).toBe(300);
  });

  it("refuses malformed receipts without throwing", async () => {
    const { owner, host } = await people();
    const good = await receipt(owner, host, 1, 100);
    const bad: unknown[] = [
      null,
      7,
      "x",
      { ...good, kind: "lease/1" },
      { ...good, payload: { ...good.payload, milliCredits: -5 } },
      { ...good, payload: { ...good.payload, milliCredits: 2 ** 60 } },
      { ...good, payload: { ...good.payload, seq: 0 } },
      { ...good, payload: { ...good.payload, owner: host.peerId, host: host.peerId } },
      { ...good, payload: { ...good.payload, at: T0 - 1 } },
      { ...good, payload: { ...good.payload, milliCredits: 10n } },
    ];
    const check = await checkReceipts([...bad, good]);
    expect(check.refused).toBe(bad.length);
    expect(check.receipts).toHaveLength(1);
  });

  it("checks one signature per honest lease, however many receipts it has", async () => {
    const { owner, host } = await people();
    const rs = [];
    for (let seq = 1; seq <= 20; seq++) rs.push(await receipt(owner, host, seq, seq * 10));
    const check = await checkReceipts(rs);
    expect(check.verified).toBe(1);
    expect(check.receipts.map((r) => r.payload.seq)).toEqual([20]);
  });
});
