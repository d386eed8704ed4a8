// The host's billing under hostile receipts: only the owner's own signature, for
// this host, this lease and this epoch, pays for a VM; anything else leaves it
// unpaid, so it slows down and then pauses (after a checkpoint), and a genuine
// receipt lets it run again. Fake clock; the real signatures and CreditBook.
import { beforeEach, describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import type { Ledger } from "../../core/ledger/ledger.ts";
import { type ReceiptEntry, signReceipt } from "../../core/ledger/receipt.ts";
import { INSTRUCTIONS_PER_MILLI } from "../../core/ledger/units.ts";
import { peerAddress } from "../../core/net/peer-address.ts";
import { AuthorStore } from "../../core/state/author-store.ts";
import { CreditBook } from "../../core/state/credit-book.ts";
import { ManualClock } from "../../core/util/clock.ts";
import { HostBilling } from "../../core/vm/host-billing.ts";
import type { Hosting } from "../../core/vm/hosting.ts";
import type { VmMessage } from "../../core/vm/vm-protocol.ts";

const LEASE = "d".repeat(64);
const VM = "e".repeat(32);
const ISSUED_AT = 1_000;
const GRACE_MS = 5_000;

let owner: Identity;
let host: Identity;
let stranger: Identity;
let clock: ManualClock;
let sent: VmMessage[];
let engine: { instructions: number; paused: boolean; budgets: number[]; checkpoints: number };
let h: Hosting;
let billing: HostBilling;
/** What the VM's published ports served on this host (WebHost.countersOf). */
let served: { requests: number; bytesIn: number; bytesOut: number };

function ledgerWithBalance(balanceMilli: number): Ledger {
  const account = {
    peer: owner.peerId,
    allowanceMilli: balanceMilli,
    earnedMilli: 0,
    spentMilli: 0,
    balanceMilli,
    ratio: null,
  };
  return { accounts: new Map([[owner.peerId, account]]), leases: [], proofs: [], cheaters: new Set() };
}

const receipt = (
  by: Identity,
  patch: Partial<Parameters<typeof signReceipt>[1]> = {},
): Promise<ReceiptEntry> =>
  signReceipt(by, {
    lease: LEASE,
    vm: VM,
    host: host.peerId,
    epoch: 3,
    seq: 1,
    startedAt: ISSUED_AT,
    at: ISSUED_AT + 60_000,
    milliCredits: 10_000,
    ...patch,
  });

/** Lets the billing's queued async work (signatures, the ledger) finish. */
const settle = () => billing.settled();
const tick = async (ms: number) => clock.advance(ms, settle);
const payment = () => h.view.payment;

beforeEach(async () => {
  [owner, host, stranger] = await Promise.all([createIdentity(), createIdentity(), createIdentity()]);
  clock = new ManualClock();
  sent = [];
  // An earlier lease of the VM on this host served these: not this lease's.
  served = { requests: 5, bytesIn: 500, bytesOut: 5000 };
  engine = { instructions: 0, paused: false, budgets: [], checkpoints: 0 };
  const book = new CreditBook(new AuthorStore(host), host);
  h = {
    view: { payment: null },
    vm: { vmId: VM, owner: owner.peerId },
    lease: { vmId: VM, epoch: 3, issuedAt: ISSUED_AT },
    requester: peerAddress(owner.peerId, "tab1"),
    viewers: new Set([peerAddress(stranger.peerId, "x")]),
    engine: {
      stats: async () => ({ usedPct: 50, instructions: engine.instructions }),
      setBudget: (pct: number) => engine.budgets.push(pct),
      pause: async () => {
        engine.paused = true;
      },
      resume: async () => {
        engine.paused = false;
      },
    },
  } as unknown as Hosting;
  billing = new HostBilling({
    selfPeerId: host.peerId,
    credits: { ledger: async () => ledgerWithBalance(50_000), holdReceipt: (e) => book.holdReceipt(e) },
    clock,
    meterIntervalMs: () => 1000,
    payment: () => ({ throttleAfterMs: GRACE_MS, pauseAfterMs: GRACE_MS }),
    send: (_to, m) => sent.push(m),
    budgetPct: () => 80,
    checkpoint: async () => {
      engine.checkpoints++;
    },
    isCurrent: () => true,
    changed: () => {},
    traffic: () => ({ ...served }),
  });
  billing.begin(h, LEASE);
  // The guest has run 10 credits' worth.
  engine.instructions = 10_000 * INSTRUCTIONS_PER_MILLI;
});

describe("host billing", () => {
  it("meters the guest and what its ports served in this lease, and tells only the owner's tabs", async () => {
    served = { requests: 7, bytesIn: 700, bytesOut: 9000 };
    await tick(1000);
    const meters = sent.filter((m) => m.t === "meter");
    const web = { requests: 2, bytesIn: 200, bytesOut: 4000 };
    expect(meters).toEqual([{ t: "meter", vmId: VM, epoch: 3, milli: 10_000, web }]);
    expect(sent.length).toBe(1); // to the owner's tab, not to the stranger watching
  });

  it("a genuine receipt keeps the VM running at its full budget", async () => {
    await tick(1000);
    billing.receipt(await receipt(owner), [h]);
    await tick(3 * GRACE_MS);
    expect(payment()?.state).toBe("paid");
    expect(payment()?.paidMilli).toBe(10_000);
    expect(engine.paused).toBe(false);
    expect(engine.budgets.at(-1)).toBe(80);
  });

  it("forged, replayed and misdirected receipts pay nothing: the VM slows, then pauses after a checkpoint", async () => {
    await tick(1000);
    const hostile = [
      await receipt(stranger), // signed by someone else
      { ...(await receipt(owner)), payload: { ...(await receipt(owner)).payload, milliCredits: 99_999 } }, // altered
      await receipt(owner, { host: stranger.peerId }), // for another host
      await receipt(owner, { lease: "a".repeat(64) }), // for another lease
      await receipt(owner, { epoch: 2 }), // an older epoch's
      await receipt(owner, { startedAt: 0, at: 60_000 }), // other terms
    ];
    for (const r of hostile) billing.receipt(r as ReceiptEntry, [h]);
    billing.receipt({ garbage: true } as unknown as ReceiptEntry, [h]);
    await tick(GRACE_MS);
    expect(payment()?.state).toBe("throttled");
    expect(engine.budgets.at(-1)).toBe(20);
    await tick(GRACE_MS);
    expect(payment()?.state).toBe("paused");
    expect(payment()?.reason).toMatch(/resumes/);
    expect(engine.checkpoints).toBe(1);
    expect(engine.paused).toBe(true);
    const told = sent.filter((m) => m.t === "payment").map((m) => (m as { state: string }).state);
    expect(told).toEqual(["throttled", "paused"]);
    // Paid up: it runs again.
    billing.receipt(await receipt(owner, { seq: 2 }), [h]);
    await tick(1000);
    expect(payment()?.state).toBe("paid");
    expect(engine.paused).toBe(false);
  });

  it("an older receipt replayed after a newer one changes nothing", async () => {
    await tick(1000);
    billing.receipt(await receipt(owner, { seq: 5, milliCredits: 10_000 }), [h]);
    await tick(1000);
    billing.receipt(await receipt(owner, { seq: 4, milliCredits: 9_000 }), [h]);
    await tick(1000);
    expect(payment()?.paidMilli).toBe(10_000);
  });
});
