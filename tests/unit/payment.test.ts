// Paying for a lease: the owner never signs more than the lease could use, and
// a host whose receipts stop slows the VM, then pauses it, and resumes it once paid.
import { describe, expect, it } from "vitest";
import { maxMilliFor } from "../../core/ledger/units.ts";
import { PaymentWatch } from "../../core/vm/payment-watch.ts";
import { ReceiptSigner } from "../../core/vm/receipt-signer.ts";

const terms = {
  lease: "a".repeat(64),
  vm: "b".repeat(32),
  host: "c".repeat(32),
  epoch: 2,
  startedAt: 10_000,
};

describe("receipt signer (owner)", () => {
  it("signs rising totals with rising seq, and nothing when nothing was added", () => {
    const s = new ReceiptSigner(terms);
    expect(s.next(100, 20_000)).toMatchObject({ seq: 1, milliCredits: 100, at: 20_000, epoch: 2 });
    expect(s.next(100, 21_000)).toBeNull();
    expect(s.next(50, 22_000)).toBeNull(); // a meter that went back is not paid twice
    expect(s.next(300, 23_000)).toMatchObject({ seq: 2, milliCredits: 300 });
  });

  it("never claims more than the lease can have used, whatever the host reports", () => {
    const s = new ReceiptSigner(terms);
    const r = s.next(10 ** 12, terms.startedAt + 5000);
    expect(r?.milliCredits).toBe(maxMilliFor(5000));
    for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) expect(s.next(bad, 99_000)).toBeNull();
  });

  it("goes on from an earlier tab's newest receipt", () => {
    const s = new ReceiptSigner(terms);
    s.resumeFrom({ seq: 7, milliCredits: 500 });
    expect(s.next(400, 60_000)).toBeNull();
    expect(s.next(600, 60_000)).toMatchObject({ seq: 8, milliCredits: 600 });
  });
});

describe("payment watch (host)", () => {
  it("runs while paid, slows when receipts stop, pauses after the grace, and resumes when paid up", () => {
    const w = new PaymentWatch({ slackMilli: 100, throttleAfterMs: 1000, pauseAfterMs: 2000 });
    w.noteMeter(50, 0);
    expect(w.verdict(0).state).toBe("paid");
    w.noteMeter(500, 100); // 500 unpaid: behind from t=100
    expect(w.verdict(900).state).toBe("paid");
    expect(w.verdict(1100)).toMatchObject({ state: "throttled", budgetFactor: 0.25, unpaidMilli: 500 });
    expect(w.verdict(3100)).toMatchObject({ state: "paused", budgetFactor: 0 });
    expect(w.verdict(3100).reason).toMatch(/resumes/);
    w.noteReceipt(450, 3200); // within the slack again
    expect(w.verdict(3200)).toMatchObject({ state: "paid", budgetFactor: 1, unpaidMilli: 50 });
  });

  it("an old receipt does not undo a newer one", () => {
    const w = new PaymentWatch({ slackMilli: 10, throttleAfterMs: 100, pauseAfterMs: 100 });
    w.noteMeter(1000, 0);
    w.noteReceipt(1000, 0);
    w.noteReceipt(5, 10);
    expect(w.verdict(500).state).toBe("paid");
  });
});
