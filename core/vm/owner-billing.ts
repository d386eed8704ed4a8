// The owner's side of the credit economy: when the host of one of its VMs says
// what its meter reads, the owner's leading tab signs the next cumulative
// receipt (receipt-signer.ts: never more than the lease can have used), keeps
// it in its own slot of the shared state, and hands it to the host. It signs no
// more than its balance covers: a VM whose owner runs out of credit is paused
// by its host (not lost), and runs again once the owner has earned more.
// Only one tab signs (the leader), so one owner never signs two receipts with
// one seq; a tab that takes over continues from the newest receipt published.
import type { Identity } from "../crypto/identity.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { type ReceiptEntry, signReceipt } from "../ledger/receipt.ts";
import { formatCredits } from "../ledger/units.ts";
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import { leaseDigest } from "../state/vm-records.ts";
import type { LeaseBook } from "./lease-book.ts";
import type { OwnerViews } from "./owner-views.ts";
import { ReceiptSigner } from "./receipt-signer.ts";
import type { PaymentState, VmMessage } from "./vm-protocol.ts";

/** What the owner needs of the shared state's credit records. */
export interface OwnCredits {
  ledger(): Promise<Ledger>;
  publishReceipt(entry: ReceiptEntry): Promise<void>;
  /** The newest receipt this owner published for a lease, if any. */
  publishedReceipt(lease: string): ReceiptEntry | null;
}

export interface OwnerBillingOptions {
  identity: Identity;
  credits: OwnCredits;
  leases: LeaseBook;
  views: OwnerViews;
  isLeader: () => boolean;
  now: () => number;
  send(to: PeerAddress, message: VmMessage): void;
}

/**
 * Seq numbers a tab skips when it takes over a lease's receipts, so a receipt
 * another tab signed but had not yet published can never share a seq with one
 * signed here.
 */
export const TAKEOVER_SEQ_GAP = 1000;

/** How many leases' signers a tab keeps (newest used last). */
const SIGNERS_KEPT = 256;

interface LeaseSigner {
  signer: ReceiptSigner;
  newest: ReceiptEntry | null;
}

export class OwnerBilling {
  private readonly signers = new Map<string, LeaseSigner>();
  /** What this tab could not pay of each VM's meter, for people (none while paid up). */
  private readonly short = new Map<string, string>();
  /** Meter readings of each VM, one at a time (signing is async). */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly o: OwnerBillingOptions) {}

  meter(remote: PeerAddress, m: Extract<VmMessage, { t: "meter" }>): void {
    if (!this.o.isLeader()) return;
    const run = (this.queues.get(m.vmId) ?? Promise.resolve())
      .then(() => this.pay(remote, m))
      .catch(() => {});
    this.queues.set(m.vmId, run);
    void run.then(() => {
      if (this.queues.get(m.vmId) === run) this.queues.delete(m.vmId);
    });
  }

  /** The host said how the lease's payment stands: the owner's page shows it. */
  payment(remote: PeerAddress, m: Extract<VmMessage, { t: "payment" }>): void {
    const v = this.o.views.get(m.vmId);
    if (!v || v.host !== remote || v.epoch !== m.epoch) return;
    // The host says what it does; this tab adds why, when it is out of credit.
    const reason = [m.reason, this.short.get(m.vmId) ?? ""].filter(Boolean).join(" ");
    const known = this.o.views.get(m.vmId)?.payment;
    const paidMilli = known?.epoch === m.epoch ? known.paidMilli : 0;
    this.o.views.update(m.vmId, { payment: { epoch: m.epoch, state: m.state, reason, paidMilli } });
  }

  private async pay(remote: PeerAddress, m: Extract<VmMessage, { t: "meter" }>): Promise<void> {
    const current = await this.o.leases.current(m.vmId);
    // Only the host of the current lease is paid, for that lease.
    if (!current || current.lease.host !== remote || current.lease.epoch !== m.epoch) return;
    const digest = await leaseDigest(current.entry);
    const s = this.signerFor(digest, m.vmId, remote, current.lease.epoch, current.lease.issuedAt);
    const own = (await this.o.credits.ledger()).accounts.get(this.o.identity.peerId);
    const paidSoFar = s.newest?.payload.milliCredits ?? 0;
    // The balance already counts this lease's newest receipt as spent.
    const affordable = paidSoFar + Math.max(0, own?.balanceMilli ?? 0);
    const wanted = Math.min(m.milli, affordable);
    const next = s.signer.next(wanted, this.o.now());
    const signed = next ? await signReceipt(this.o.identity, next) : null;
    if (signed) s.newest = signed;
    // Sent again when nothing is new, in case the last one was lost on the way; sent before it
    // is published, so a full state (author-store.ts quotas) never leaves the host unpaid.
    if (s.newest) this.o.send(remote, { t: "receipt", receipt: s.newest });
    if (signed) await this.o.credits.publishReceipt(signed);
    if (m.milli > affordable) this.outOfCredit(m.vmId, m.epoch, m.milli - affordable);
    else this.short.delete(m.vmId);
    // What this lease has cost so far, for the owner's page.
    const known = this.o.views.get(m.vmId)?.payment;
    const paidMilli = s.newest?.payload.milliCredits ?? 0;
    if (known?.epoch !== m.epoch || known.paidMilli !== paidMilli)
      this.o.views.update(m.vmId, {
        payment: {
          epoch: m.epoch,
          state: known?.epoch === m.epoch ? known.state : "paid",
          reason: known?.epoch === m.epoch ? known.reason : "",
          paidMilli,
        },
      });
  }

  private outOfCredit(vmId: string, epoch: number, shortMilli: number): void {
    const known = this.o.views.get(vmId)?.payment;
    const state: PaymentState = known?.epoch === epoch ? known.state : "paid";
    const note = `Out of credit: ${formatCredits(shortMilli)} of this VM's work is unpaid. Contribute to earn more; the VM is paused (with its files) until then.`;
    if (this.short.get(vmId) === note) return;
    this.short.set(vmId, note);
    this.o.views.update(vmId, {
      // What it cost so far is what the view shows (pay() keeps it current).
      payment: { epoch, state, reason: note, paidMilli: known?.epoch === epoch ? known.paidMilli : 0 },
    });
  }

  private signerFor(
    lease: string,
    vm: string,
    host: PeerAddress,
    epoch: number,
    startedAt: number,
  ): LeaseSigner {
    const known = this.signers.get(lease);
    if (known) {
      this.signers.delete(lease);
      this.signers.set(lease, known);
      return known;
    }
    const signer = new ReceiptSigner({ lease, vm, host: peerIdOf(host), epoch, startedAt });
    const published = this.o.credits.publishedReceipt(lease);
    if (published)
      signer.resumeFrom({
        seq: published.payload.seq + TAKEOVER_SEQ_GAP,
        milliCredits: published.payload.milliCredits,
      });
    const s = { signer, newest: published };
    this.signers.set(lease, s);
    if (this.signers.size > SIGNERS_KEPT) this.signers.delete(this.signers.keys().next().value!);
    return s;
  }
}
