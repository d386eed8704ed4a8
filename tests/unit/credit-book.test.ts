// Credit in the shared state: receipts in the owner's slots and the host's,
// stamps in their own key's slot. Nobody can take back a payment, or pay with
// another's name, or claim another's stamp.
import { describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { RECEIPT_KIND, type Receipt, signReceipt } from "../../core/ledger/receipt.ts";
import { ALLOWANCE_MILLI, checkStamp, searchStamp } from "../../core/ledger/stamp.ts";
import { AuthorStore } from "../../core/state/author-store.ts";
import { CreditBook } from "../../core/state/credit-book.ts";

const BITS = 6;
const LEASE = "f".repeat(64);

async function member() {
  const id = await createIdentity();
  const book = new CreditBook(new AuthorStore(id), id, { stampBits: BITS });
  return { id, book };
}

/** A reader that holds every entry of every member (as sync would leave it). */
async function readerOf(...members: { book: CreditBook }[]) {
  const id = await createIdentity();
  const reader = new CreditBook(new AuthorStore(id), id, { stampBits: BITS });
  for (const m of members)
    for (const author of m.book.store.authors())
      for (const e of m.book.store.entriesOf(author)) await reader.store.apply(e);
  return reader;
}

const pay = (owner: Identity, host: Identity, seq: number, milliCredits: number) =>
  signReceipt(owner, {
    lease: LEASE,
    vm: "1".repeat(32),
    host: host.peerId,
    epoch: 1,
    seq,
    startedAt: 1000,
    at: 1000 + seq * 60_000,
    milliCredits,
  });

const stampOf = (id: Identity) => searchStamp(id.publicKey, BITS, 0, 1 << 16)!;

describe("credit book", () => {
  it("an owner who takes its receipts back still owes what the host holds", async () => {
    const owner = await member();
    const host = await member();
    await owner.book.publishStamp(stampOf(owner.id));
    for (let seq = 1; seq <= 3; seq++) {
      const r = await pay(owner.id, host.id, seq, seq * 100);
      await owner.book.publishReceipt(r);
      expect(await host.book.holdReceipt(r)).toBe(true);
    }
    expect(await host.book.holdReceipt(await pay(owner.id, host.id, 2, 200))).toBe(false); // older: ignored
    let reader = await readerOf(owner, host);
    let l = await reader.ledger();
    expect(l.accounts.get(owner.id.peerId)?.balanceMilli).toBe(ALLOWANCE_MILLI - 300);
    expect(l.accounts.get(host.id.peerId)?.earnedMilli).toBe(300);
    // The owner replaces its receipt with a tombstone in its own slot.
    await owner.book.store.put("credits", `paid/${LEASE}`, null);
    reader = await readerOf(owner, host);
    l = await reader.ledger();
    expect(l.accounts.get(owner.id.peerId)?.spentMilli).toBe(300);
    expect(l.accounts.get(host.id.peerId)?.earnedMilli).toBe(300);
  });

  it("a receipt in someone's name, or a stamp of someone else's key, counts for nobody", async () => {
    const owner = await member();
    const mallory = await member();
    await owner.book.publishStamp(stampOf(owner.id));
    // Mallory writes a receipt naming the owner as payer and herself as host, signed by her.
    const forged = await signEntry<Receipt>(mallory.id, RECEIPT_KIND, {
      ...(await pay(owner.id, mallory.id, 1, 900)).payload,
    });
    expect(await mallory.book.holdReceipt(forged)).toBe(false);
    await mallory.book.store.put("credits", `held/${owner.id.peerId}/${LEASE}`, forged);
    // And she copies the owner's stamp values into her own stamp slot.
    let s = stampOf(owner.id);
    // (A stamp that happens to hold for her key too would be her own; take one that does not.)
    while (checkStamp({ ...s, publicKey: mallory.id.publicKey }, BITS))
      s = searchStamp(owner.id.publicKey, BITS, s.nonce + 1, 1 << 16)!;
    await mallory.book.store.put("credits", "stamp", { nonce: s.nonce, bits: s.bits });
    await expect(mallory.book.publishStamp(s)).rejects.toThrow();
    const l = await (await readerOf(owner, mallory)).ledger();
    expect(l.accounts.get(owner.id.peerId)?.balanceMilli).toBe(ALLOWANCE_MILLI);
    expect(l.accounts.get(mallory.id.peerId)?.balanceMilli ?? 0).toBe(0);
  });
});
