// The ledger's rules, as pure functions over a set of verified receipts (see
// verify.ts): every peer that holds the same receipts computes the same
// balances, whatever order they came in and however often.
//
// - For each (owner, lease) only the newest receipt counts (highest seq), capped
//   at what the lease can have used in its wall time (units.ts).
// - Proofs of cheating, kept and shown: two different receipts for one lease and
//   seq, or for one lease with different terms (equivocation); a lower total
//   after a higher (regression); a total beyond what the lease could use
//   (over-claim). Hosts refuse owners with a proof.
// - balance = allowance + earned − spent. Nobody can pay with credit it does not
//   have: an owner whose receipts add up to more than its allowance and earnings
//   pays each host in proportion to what it has, so a pair of colluding Sybils
//   can move credit between them but never make it.
import { copyKey, type Receipt, type ReceiptEntry, sameReceipt } from "./receipt.ts";
import { maxMilliFor } from "./units.ts";

export type CheatProof =
  | { kind: "equivocation"; owner: string; lease: string; a: ReceiptEntry; b: ReceiptEntry }
  | { kind: "regression"; owner: string; lease: string; a: ReceiptEntry; b: ReceiptEntry }
  | { kind: "over-claim"; owner: string; lease: string; a: ReceiptEntry; maxMilli: number };

export interface Account {
  peer: string;
  allowanceMilli: number;
  earnedMilli: number;
  spentMilli: number;
  balanceMilli: number;
  /** earned / spent; null while nothing was spent. */
  ratio: number | null;
}

export interface CountedLease {
  owner: string;
  host: string;
  lease: string;
  /** The receipt that counts: the newest. */
  newest: ReceiptEntry;
  /** What the receipts claim, capped at what the lease can have used. */
  claimedMilli: number;
  /** What the owner could pay of it (claimedMilli unless the owner is overdrawn). */
  paidMilli: number;
}

export interface Ledger {
  accounts: Map<string, Account>;
  leases: CountedLease[];
  proofs: CheatProof[];
  /** Owners with at least one proof against them. */
  cheaters: Set<string>;
}

export interface LedgerInput {
  /** Receipts whose signature was checked and whose signer is their owner (verify.ts). */
  receipts: readonly ReceiptEntry[];
  /** Starting credit per peer id, in milli-credits (identity stamps). */
  allowances: ReadonlyMap<string, number>;
}

/** Scaling rounds for overdrawn owners: each can only lower what is paid, so it settles. */
const MAX_ROUNDS = 64;

const bySeqThenSignature = (x: ReceiptEntry, y: ReceiptEntry) =>
  x.payload.seq - y.payload.seq || (x.signature < y.signature ? -1 : x.signature > y.signature ? 1 : 0);

const sameTerms = (a: Receipt, b: Receipt) =>
  a.vm === b.vm && a.host === b.host && a.epoch === b.epoch && a.startedAt === b.startedAt;

/** Receipts grouped by owner and lease, each group in (seq, signature) order, copies dropped. */
export function leaseGroups(receipts: readonly ReceiptEntry[]): ReceiptEntry[][] {
  const unique = new Map<string, ReceiptEntry>();
  for (const r of receipts) unique.set(copyKey(r), r);
  const byLease = new Map<string, ReceiptEntry[]>();
  for (const r of unique.values()) {
    const key = `${r.payload.owner}/${r.payload.lease}`;
    const list = byLease.get(key);
    if (list) list.push(r);
    else byLease.set(key, [r]);
  }
  return [...byLease.keys()].sort().map((k) => byLease.get(k)!.sort(bySeqThenSignature));
}

/** The proofs one lease's receipts hold (ordered, so the same set gives the same proofs). */
export function proofsOf(list: readonly ReceiptEntry[]): CheatProof[] {
  const proofs: CheatProof[] = [];
  const first = list[0];
  if (!first) return proofs;
  const { owner, lease } = first.payload;
  const other = list.find((r) => !sameTerms(r.payload, first.payload));
  if (other) proofs.push({ kind: "equivocation", owner, lease, a: first, b: other });
  let highest: ReceiptEntry | null = null;
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    const next = list[i + 1];
    if (next && next.payload.seq === r.payload.seq && !sameReceipt(next.payload, r.payload))
      proofs.push({ kind: "equivocation", owner, lease, a: r, b: next });
    if (
      highest &&
      r.payload.seq > highest.payload.seq &&
      r.payload.milliCredits < highest.payload.milliCredits
    )
      proofs.push({ kind: "regression", owner, lease, a: highest, b: r });
    if (!highest || r.payload.milliCredits > highest.payload.milliCredits) highest = r;
    const maxMilli = maxMilliFor(r.payload.at - r.payload.startedAt);
    if (r.payload.milliCredits > maxMilli) proofs.push({ kind: "over-claim", owner, lease, a: r, maxMilli });
  }
  return proofs;
}

export function computeLedger(input: LedgerInput): Ledger {
  const proofs: CheatProof[] = [];
  const leases: CountedLease[] = [];
  for (const list of leaseGroups(input.receipts)) {
    proofs.push(...proofsOf(list));
    const newest = list.at(-1)!;
    const p = newest.payload;
    const claimedMilli = Math.min(p.milliCredits, maxMilliFor(p.at - p.startedAt));
    leases.push({
      owner: p.owner,
      host: p.host,
      lease: p.lease,
      newest,
      claimedMilli,
      paidMilli: claimedMilli,
    });
  }
  settle(leases, input.allowances);
  const accounts = new Map<string, Account>();
  const account = (peer: string): Account => {
    let a = accounts.get(peer);
    if (!a) {
      const allowanceMilli = input.allowances.get(peer) ?? 0;
      a = { peer, allowanceMilli, earnedMilli: 0, spentMilli: 0, balanceMilli: allowanceMilli, ratio: null };
      accounts.set(peer, a);
    }
    return a;
  };
  for (const peer of [...input.allowances.keys()].sort()) account(peer);
  for (const l of leases) {
    account(l.owner).spentMilli += l.paidMilli;
    account(l.host).earnedMilli += l.paidMilli;
  }
  for (const a of accounts.values()) {
    a.balanceMilli = a.allowanceMilli + a.earnedMilli - a.spentMilli;
    a.ratio = a.spentMilli > 0 ? a.earnedMilli / a.spentMilli : null;
  }
  return { accounts, leases, proofs, cheaters: new Set(proofs.map((x) => x.owner)) };
}

/**
 * Lowers what overdrawn owners pay, in proportion, until every owner pays at most
 * its allowance plus what it earned. Each round can only lower payments, so the
 * rounds settle; `leases` is in a fixed order, so every peer gets the same sums.
 */
function settle(leases: CountedLease[], allowances: ReadonlyMap<string, number>): void {
  const claimedBy = new Map<string, number>();
  for (const l of leases) claimedBy.set(l.owner, (claimedBy.get(l.owner) ?? 0) + l.claimedMilli);
  const factor = new Map<string, number>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const earned = new Map<string, number>();
    for (const l of leases) earned.set(l.host, (earned.get(l.host) ?? 0) + l.paidMilli);
    let changed = false;
    for (const [owner, claimed] of [...claimedBy].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const available = (allowances.get(owner) ?? 0) + (earned.get(owner) ?? 0);
      const f = claimed > 0 ? Math.min(1, available / claimed) : 1;
      if (f < (factor.get(owner) ?? 1)) {
        factor.set(owner, f);
        changed = true;
      }
    }
    for (const l of leases) l.paidMilli = Math.floor(l.claimedMilli * (factor.get(l.owner) ?? 1));
    if (!changed) return;
  }
}
