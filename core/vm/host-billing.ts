// The host's side of the credit economy, per hosted lease: meters the guest's
// instructions (the engine's 64-bit-safe counter, since the lease's engine
// started), tells the owner's tabs what the meter reads, keeps the receipts
// they sign (in the host's own slot: credit-book.ts), and acts on what is paid
// and on the owner's standing (core/ledger/standing.ts): a VM whose receipts
// fall behind is throttled, then checkpointed and paused, and runs again once
// paid up. Nothing is lost for lack of credit: a paused VM keeps its state.
import type { SignedEntry } from "../crypto/signed.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { parseReceipt, type Receipt } from "../ledger/receipt.ts";
import { PREFERENCE_MARGIN, preferenceScore, type Standing, standingOf } from "../ledger/standing.ts";
import { milliOfInstructions } from "../ledger/units.ts";
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { Clock } from "../util/clock.ts";
import type { Hosting } from "./hosting.ts";
import { PaymentWatch, type PaymentWatchOptions } from "./payment-watch.ts";
import type { PaymentState, VmMessage } from "./vm-protocol.ts";
import type { WebCounters } from "./web-host.ts";

/** What the host needs of the shared state's credit records. */
export interface CreditRecords {
  ledger(): Promise<Ledger>;
  /** Keeps a genuine receipt naming this host, if newer than the one held; whether it did. */
  holdReceipt(entry: SignedEntry<Receipt>): Promise<boolean>;
}

export interface HostBillingOptions {
  selfPeerId: string;
  credits: CreditRecords;
  clock: Clock;
  /** How often the meter is read and sent to the owner. */
  meterIntervalMs: () => number | undefined;
  payment: () => PaymentWatchOptions;
  send(to: PeerAddress, message: VmMessage): void;
  /** The host's budget for each VM, in % of a core, before the owner's standing and payment. */
  budgetPct(): number;
  /** Saves the VM before it is paused. */
  checkpoint(h: Hosting): Promise<void>;
  isCurrent(h: Hosting): boolean;
  changed(): void;
  /** What the VM's published ports served on this host so far; each meter says what of it is this lease's. */
  traffic?(h: Hosting): WebCounters;
}

/** What the Contribute page and the owner see of a lease's payment. */
export interface PaymentView {
  state: PaymentState;
  meteredMilli: number;
  paidMilli: number;
  /** Share of the host's budget the VM gets (payment and the owner's standing). */
  budgetFactor: number;
  reason: string;
}

interface Bill {
  watch: PaymentWatch;
  /** SHA-256 of the signed lease: what the owner's receipts must name. */
  digest: string;
  view: PaymentView;
  paused: boolean;
  cancel: (() => void) | null;
  /** Meter readings, receipts and verdicts of one lease, one at a time. */
  queue: Promise<void>;
  /** The VM's web counters when the lease began here (an earlier lease on this host served the rest). */
  trafficFrom: WebCounters;
}

export const METER_INTERVAL_MS = 3000;

export class HostBilling {
  private readonly bills = new Map<Hosting, Bill>();

  constructor(private readonly o: HostBillingOptions) {}

  /** The owner's standing now: whether it may start a VM here, and why not. */
  async standing(owner: string): Promise<Standing> {
    return standingOf(await this.o.credits.ledger(), owner);
  }

  /**
   * Which of `running` should give its slot to a newcomer owned by `owner`: the one
   * whose owner ranks lowest (unpaid first, then by ratio), if the newcomer ranks
   * at least PREFERENCE_MARGIN better; null if none should.
   */
  async yieldingTo(owner: string, running: readonly Hosting[]): Promise<Hosting | null> {
    const ledger = await this.o.credits.ledger();
    const mine = preferenceScore(ledger.accounts.get(owner));
    let worst: { h: Hosting; score: number } | null = null;
    for (const h of running) {
      const paidUp = (this.bills.get(h)?.view.state ?? "paid") === "paid";
      const score = preferenceScore(ledger.accounts.get(h.vm.owner), paidUp);
      if (score + PREFERENCE_MARGIN <= mine && (!worst || score < worst.score)) worst = { h, score };
    }
    return worst?.h ?? null;
  }

  /** Starts metering a lease whose VM now runs. */
  begin(h: Hosting, digest: string): void {
    this.end(h);
    const bill: Bill = {
      watch: new PaymentWatch(this.o.payment()),
      digest,
      view: { state: "paid", meteredMilli: 0, paidMilli: 0, budgetFactor: 1, reason: "" },
      paused: false,
      cancel: null,
      queue: Promise.resolve(),
      trafficFrom: this.traffic(h),
    };
    this.bills.set(h, bill);
    h.view.payment = { ...bill.view };
    this.schedule(h, bill);
  }

  end(h: Hosting): void {
    const bill = this.bills.get(h);
    if (!bill) return;
    bill.cancel?.();
    this.bills.delete(h);
  }

  /** Resolves once every lease's queued readings and receipts are handled. */
  async settled(): Promise<void> {
    for (;;) {
      const queues = [...this.bills.values()].map((b) => b.queue);
      await Promise.all(queues);
      if ([...this.bills.values()].every((b, i) => b.queue === queues[i])) return;
    }
  }

  dispose(): void {
    for (const h of [...this.bills.keys()]) this.end(h);
  }

  /** The budget factor payment and standing allow the VM (1 while nothing limits it). */
  factor(h: Hosting): number {
    return this.bills.get(h)?.view.budgetFactor ?? 1;
  }

  /** A receipt from anyone: it counts only if the owner signed it for this host's lease. */
  receipt(entry: SignedEntry<Receipt>, hosted: Iterable<Hosting>): void {
    const p = parseReceipt((entry as { payload?: unknown })?.payload);
    if (!p || p.host !== this.o.selfPeerId) return;
    for (const h of hosted) {
      const bill = this.bills.get(h);
      if (!bill || h.vm.vmId !== p.vm) continue;
      const terms = p.lease === bill.digest && p.epoch === h.lease.epoch && p.owner === h.vm.owner;
      if (!terms || p.startedAt !== h.lease.issuedAt) return;
      this.enqueue(h, bill, async () => {
        if (!(await this.o.credits.holdReceipt(entry))) return; // forged, or not newer
        // An overdrawn owner pays in proportion (ledger.ts): only what it covers counts here.
        const account = (await this.o.credits.ledger()).accounts.get(p.owner);
        const overdraftMilli = Math.max(0, -(account?.balanceMilli ?? 0));
        const covered = Math.max(0, p.milliCredits - overdraftMilli);
        bill.watch.noteReceipt(covered, this.o.clock.nowMs());
        bill.view.paidMilli = Math.max(bill.view.paidMilli, covered);
        await this.judge(h, bill);
      });
      return;
    }
  }

  private schedule(h: Hosting, bill: Bill): void {
    bill.cancel = this.o.clock.after(this.o.meterIntervalMs() ?? METER_INTERVAL_MS, () => {
      bill.cancel = null;
      this.enqueue(h, bill, () => this.tick(h, bill));
    });
  }

  private enqueue(h: Hosting, bill: Bill, step: () => Promise<void>): void {
    bill.queue = bill.queue
      .then(() => (this.bills.get(h) === bill && this.o.isCurrent(h) ? step() : undefined))
      .catch(() => {});
  }

  private async tick(h: Hosting, bill: Bill): Promise<void> {
    try {
      if (h.engine && !bill.paused) {
        const milli = milliOfInstructions((await h.engine.stats()).instructions);
        bill.watch.noteMeter(milli, this.o.clock.nowMs());
        bill.view.meteredMilli = Math.max(bill.view.meteredMilli, milli);
      }
      if (this.bills.get(h) !== bill) return;
      const meter: VmMessage = {
        t: "meter",
        vmId: h.vm.vmId,
        epoch: h.lease.epoch,
        milli: bill.view.meteredMilli,
        web: this.leaseTraffic(h, bill),
      };
      for (const to of this.ownerTabs(h)) this.o.send(to, meter);
      await this.judge(h, bill);
    } finally {
      if (this.bills.get(h) === bill) this.schedule(h, bill);
    }
  }

  /** Decides how the VM runs from what is paid and the owner's standing, and says so when it changes. */
  private async judge(h: Hosting, bill: Bill): Promise<void> {
    const standing = await this.standing(h.vm.owner);
    const verdict = bill.watch.verdict(this.o.clock.nowMs());
    let next: Pick<PaymentView, "state" | "budgetFactor" | "reason">;
    if (!standing.admit && standing.code === "cheater")
      next = { state: "paused", budgetFactor: 0, reason: `Paused: ${standing.reason}.` };
    else if (verdict.state !== "paid") {
      const why = standing.admit ? "" : ` (${standing.reason})`;
      next = { state: verdict.state, budgetFactor: verdict.budgetFactor, reason: verdict.reason + why };
    } else if (standing.admit)
      next = {
        state: "paid",
        budgetFactor: standing.budgetFactor,
        reason: standing.reason ? `Running ${standing.reason}.` : "",
      };
    else next = { state: "paid", budgetFactor: 1, reason: "" };
    const before = bill.view;
    await this.apply(h, bill, next.state === "paused");
    if (!this.o.isCurrent(h) || this.bills.get(h) !== bill) return;
    h.engine?.setBudget(this.o.budgetPct() * (next.state === "paused" ? 1 : next.budgetFactor));
    const changed =
      before.state !== next.state ||
      before.reason !== next.reason ||
      before.budgetFactor !== next.budgetFactor;
    bill.view = { ...bill.view, ...next };
    h.view.payment = { ...bill.view };
    if (!changed) return;
    const message: VmMessage = {
      t: "payment",
      vmId: h.vm.vmId,
      epoch: h.lease.epoch,
      state: next.state,
      unpaidMilli: verdict.unpaidMilli,
      reason: next.reason,
    };
    for (const to of this.ownerTabs(h)) this.o.send(to, message);
    this.o.changed();
  }

  /** Pauses the VM (after a checkpoint, so nothing is lost) or lets it run again. */
  private async apply(h: Hosting, bill: Bill, pause: boolean): Promise<void> {
    if (pause === bill.paused || !h.engine) return;
    bill.paused = pause;
    if (pause) {
      await this.o.checkpoint(h).catch(() => {});
      await h.engine?.pause();
    } else await h.engine.resume();
  }

  private traffic(h: Hosting): WebCounters {
    return this.o.traffic?.(h) ?? { requests: 0, bytesIn: 0, bytesOut: 0 };
  }

  /** What the VM's published ports served in this lease. */
  private leaseTraffic(h: Hosting, bill: Bill): WebCounters {
    const now = this.traffic(h);
    const from = bill.trafficFrom;
    return {
      requests: Math.max(0, now.requests - from.requests),
      bytesIn: Math.max(0, now.bytesIn - from.bytesIn),
      bytesOut: Math.max(0, now.bytesOut - from.bytesOut),
    };
  }

  /** The owner's tabs that watch or started the VM. */
  ownerTabs(h: Hosting): PeerAddress[] {
    return [...new Set([h.requester, ...h.viewers])].filter((p) => peerIdOf(p) === h.vm.owner);
  }
}
