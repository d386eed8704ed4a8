// What the shared state says about credit, in the "credits" space of each
// author: an owner's receipts under `paid/<lease>` (the newest per lease), a
// host's copy of the newest receipt it was given under `held/<owner>/<lease>`
// (so an owner who takes its own receipts back still owes what the host holds),
// and each identity's stamp under `stamp`. The ledger is computed from all of
// it by core/ledger: only the owner's signature makes a receipt count, wherever
// it sits, and only a stamp in its own key's slot buys an allowance.
import type { Identity } from "../crypto/identity.ts";
import { computeLedger, type Ledger } from "../ledger/ledger.ts";
import { parseReceipt, type ReceiptEntry } from "../ledger/receipt.ts";
import { allowanceFor, STAMP_BITS, type Stamp } from "../ledger/stamp.ts";
import { checkReceipts } from "../ledger/verify.ts";
import { isObject } from "../util/guards.ts";
import type { AuthorStore } from "./author-store.ts";

export interface CreditBookOptions {
  /** The stamp difficulty that buys the allowance (tests lower it). */
  stampBits?: number;
}

export class CreditBook {
  private cached: Promise<Ledger> | null = null;
  private readonly stampBits: number;
  private readonly off: () => void;

  constructor(
    readonly store: AuthorStore,
    private readonly identity: Identity,
    options: CreditBookOptions = {},
  ) {
    this.stampBits = options.stampBits ?? STAMP_BITS;
    this.off = store.on("change", (slot) => {
      if (slot.space === "credits") this.cached = null;
    });
  }

  /** Stops following the store (the book's answers go stale after this). */
  dispose(): void {
    this.off();
  }

  /** Calls `fn` when anything about credit changed; returns the unsubscribe. */
  observe(fn: () => void): () => void {
    return this.store.on("change", (slot) => {
      if (slot.space === "credits") fn();
    });
  }

  /** The owner keeps its newest receipt for a lease (this peer must be the owner). */
  async publishReceipt(entry: ReceiptEntry): Promise<void> {
    if (entry.payload.owner !== this.identity.peerId)
      throw new Error("only a receipt this peer signed as owner");
    await this.store.put("credits", `paid/${entry.payload.lease}`, entry);
  }

  /** The newest receipt this peer published as owner for a lease (as stored; the ledger checks it). */
  publishedReceipt(lease: string): ReceiptEntry | null {
    const held = this.store.get(this.identity.peerId, "credits", `paid/${lease}`);
    const p = isObject(held) ? parseReceipt(held.payload) : null;
    return p && p.owner === this.identity.peerId && p.lease === lease
      ? (held as unknown as ReceiptEntry)
      : null;
  }

  /**
   * A host keeps the newest receipt it was paid, in its own slot; older or others'
   * are ignored. True for a genuine, newer receipt (kept, unless this peer's slots are full).
   */
  async holdReceipt(entry: ReceiptEntry): Promise<boolean> {
    const p = parseReceipt(entry.payload);
    if (!p || p.host !== this.identity.peerId) return false;
    const key = `held/${p.owner}/${p.lease}`;
    const held = this.store.get(this.identity.peerId, "credits", key);
    const heldSeq = isObject(held) && isObject(held.payload) ? Number(held.payload.seq) : 0;
    if (heldSeq >= p.seq) return false;
    const [genuine] = (await checkReceipts([entry])).receipts;
    if (!genuine) return false;
    try {
      await this.store.put("credits", key, genuine);
    } catch {
      // This peer's slots are full (core/state/author-store.ts quotas): the receipt is
      // genuine and counts for the VM, but the state keeps only the owner's copy.
    }
    return true;
  }

  async publishStamp(stamp: Stamp): Promise<void> {
    if (stamp.publicKey !== this.identity.publicKey) throw new Error("a stamp for another key");
    await this.store.put("credits", "stamp", { nonce: stamp.nonce, bits: stamp.bits });
  }

  /** Whether this identity has a stamp in the state. */
  hasStamp(): boolean {
    return this.store.get(this.identity.peerId, "credits", "stamp") != null;
  }

  /** Balances and proofs from everything held (computed once per change). */
  ledger(): Promise<Ledger> {
    this.cached ??= this.compute();
    return this.cached;
  }

  private async compute(): Promise<Ledger> {
    const receipts: unknown[] = [];
    const allowances = new Map<string, number>();
    for (const slot of this.store.list("credits")) {
      if (slot.key === "stamp") {
        const v = slot.value;
        const stamp = isObject(v) ? { publicKey: slot.entry.publicKey, nonce: v.nonce, bits: v.bits } : null;
        const allowance = allowanceFor(stamp, this.stampBits);
        if (allowance > 0) allowances.set(slot.author, allowance);
      } else if (slot.key.startsWith("paid/") || slot.key.startsWith("held/")) receipts.push(slot.value);
    }
    const { receipts: checked } = await checkReceipts(receipts);
    return computeLedger({ receipts: checked, allowances });
  }
}
