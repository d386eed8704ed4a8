// A receipt: the owner's signed word that a host ran its VM for a lease, with
// the running total of what the host's meter counted. Receipts are cumulative,
// so for each lease only the newest counts and the ledger grows with leases,
// not with time. Pure type, parser and signing; ledger.ts applies the rules.

import type { Identity } from "../crypto/identity.ts";
import { PEER_ID_PATTERN } from "../crypto/identity.ts";
import { type SignedEntry, signEntry } from "../crypto/signed.ts";
import { isCount, isMatch, isObject, SHA256_PATTERN } from "../util/guards.ts";

export const RECEIPT_KIND = "receipt/1";

const VM_ID_PATTERN = /^[0-9a-f]{32}$/;

export interface Receipt {
  /** The lease this pays for: SHA-256 of the signed lease entry (as leases chain by). */
  lease: string;
  vm: string;
  /** The owner's peer id; only the owner's own signature makes a receipt count. */
  owner: string;
  /** The host's peer id: who earns it. */
  host: string;
  epoch: number;
  /** Per lease, rising with each receipt the owner signs. */
  seq: number;
  /** When the lease began (owner's clock, ms): with `at`, bounds what the lease can have used. */
  startedAt: number;
  /** When this receipt was signed (owner's clock, ms). */
  at: number;
  /** The lease's total so far, in milli-credits (units.ts). */
  milliCredits: number;
}

export type ReceiptEntry = SignedEntry<Receipt>;

export function parseReceipt(v: unknown): Receipt | null {
  if (!isObject(v)) return null;
  if (!isMatch(v.lease, SHA256_PATTERN) || !isMatch(v.vm, VM_ID_PATTERN)) return null;
  if (!isMatch(v.owner, PEER_ID_PATTERN) || !isMatch(v.host, PEER_ID_PATTERN) || v.owner === v.host)
    return null;
  for (const n of [v.epoch, v.seq, v.startedAt, v.at, v.milliCredits]) if (!isCount(n)) return null;
  if ((v.epoch as number) < 1 || (v.seq as number) < 1 || (v.at as number) < (v.startedAt as number))
    return null;
  return {
    lease: v.lease as string,
    vm: v.vm as string,
    owner: v.owner as string,
    host: v.host as string,
    epoch: v.epoch as number,
    seq: v.seq as number,
    startedAt: v.startedAt as number,
    at: v.at as number,
    milliCredits: v.milliCredits as number,
  };
}

/** The owner signs a receipt (its own id is the owner). */
export function signReceipt(owner: Identity, receipt: Omit<Receipt, "owner">): Promise<ReceiptEntry> {
  return signEntry<Receipt>(owner, RECEIPT_KIND, { ...receipt, owner: owner.peerId });
}

/** What a receipt says, as one string: equal strings, equal receipts. */
const payloadKey = (p: Receipt) =>
  [p.lease, p.vm, p.owner, p.host, p.epoch, p.seq, p.startedAt, p.at, p.milliCredits].join("/");

/** Whether two receipts say the same thing. */
export const sameReceipt = (a: Receipt, b: Receipt): boolean => payloadKey(a) === payloadKey(b);

/**
 * What makes two receipts copies of one: the signature and what it signs (a
 * signature copied onto other content is another receipt, and a forged one).
 */
export const copyKey = (r: ReceiptEntry): string => `${r.signature}/${r.publicKey}/${payloadKey(r.payload)}`;
