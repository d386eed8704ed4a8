// Which receipts to believe, checking as few signatures as the rules need. Only
// the newest receipt of a lease counts, so for each (owner, lease) only the
// newest whose signature holds is checked, unless the lease's receipts could
// hold a proof (ledger.ts: the same seq twice with different content, a total
// below an earlier one, other terms, a total beyond the lease's bound): then all
// of them are. If the whole set holds no proof, no subset does, so the older
// receipts left unchecked change nothing. Anything malformed, or signed by
// anyone but the receipt's owner, is dropped. What is kept depends only on the
// set given, never on its order.
import { peerIdOfKey, verifyEntry } from "../crypto/signed.ts";
import { isObject } from "../util/guards.ts";
import { leaseGroups, proofsOf } from "./ledger.ts";
import { parseReceipt, RECEIPT_KIND, type ReceiptEntry } from "./receipt.ts";

export interface ReceiptCheck {
  /** Receipts to hand to computeLedger. */
  receipts: ReceiptEntry[];
  /** Dropped: malformed, forged, or not signed by their owner. */
  refused: number;
  /** Signatures checked (the rest were not needed). */
  verified: number;
}

/** Parses without checking the signature, to decide what needs checking. */
function shapeOf(raw: unknown): ReceiptEntry | null {
  if (!isObject(raw) || raw.kind !== RECEIPT_KIND) return null;
  if (typeof raw.publicKey !== "string" || typeof raw.signature !== "string") return null;
  const payload = parseReceipt(raw.payload);
  return payload && { kind: RECEIPT_KIND, payload, publicKey: raw.publicKey, signature: raw.signature };
}

export async function checkReceipts(raw: readonly unknown[]): Promise<ReceiptCheck> {
  let refused = 0;
  let verified = 0;
  const shaped: ReceiptEntry[] = [];
  for (const r of raw) {
    const entry = shapeOf(r);
    if (entry) shaped.push(entry);
    else refused++;
  }
  const genuine = async (r: ReceiptEntry): Promise<boolean> => {
    verified++;
    const checked = await verifyEntry(r, RECEIPT_KIND, parseReceipt);
    return checked !== null && (await peerIdOfKey(checked.publicKey)) === r.payload.owner;
  };
  const kept = await Promise.all(
    leaseGroups(shaped).map(async (list) => {
      // A lease whose receipts could hold a proof is checked whole, so no forgery hides a genuine proof.
      if (proofsOf(list).length > 0) {
        const checks = await Promise.all(list.map(async (r) => ((await genuine(r)) ? r : null)));
        const genuineOnes = checks.filter((r): r is ReceiptEntry => r !== null);
        refused += list.length - genuineOnes.length;
        return genuineOnes;
      }
      // Otherwise only the newest that holds counts, and nothing older can make a proof.
      for (const r of [...list].reverse()) {
        if (await genuine(r)) return [r];
        refused++;
      }
      return [];
    }),
  );
  return { receipts: kept.flat(), refused, verified };
}
