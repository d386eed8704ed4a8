// The ledger under load, in memory with the real crypto: 10,000 receipts from
// 1,000 leases (ten each, cumulative, shuffled), checked and balanced as a peer
// would on reading them; what one lease costs to keep; and what a stamp costs.
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { clearSignatureCache } from "../../core/crypto/signed.ts";
import { computeLedger } from "../../core/ledger/ledger.ts";
import { type ReceiptEntry, signReceipt } from "../../core/ledger/receipt.ts";
import { STAMP_BITS, searchStamp } from "../../core/ledger/stamp.ts";
import { checkReceipts } from "../../core/ledger/verify.ts";
import { log } from "./context.ts";

const LEASES = 1000;
const PER_LEASE = 10;
const PEOPLE = 100;

export async function ledgerBench(): Promise<Record<string, unknown>> {
  log(`ledger: ${LEASES * PER_LEASE} receipts from ${LEASES} leases among ${PEOPLE} peers`);
  const people: Identity[] = await Promise.all(Array.from({ length: PEOPLE }, () => createIdentity()));
  const receipts: ReceiptEntry[] = [];
  const t0 = 1_700_000_000_000;
  for (let l = 0; l < LEASES; l++) {
    const owner = people[l % PEOPLE]!;
    const host = people[(l * 7 + 1) % PEOPLE]!;
    const lease = l.toString(16).padStart(64, "0");
    for (let seq = 1; seq <= PER_LEASE; seq++)
      receipts.push(
        await signReceipt(owner, {
          lease,
          vm: l.toString(16).padStart(32, "0"),
          host: host === owner ? people[(l + 1) % PEOPLE]!.peerId : host.peerId,
          epoch: 1,
          seq,
          startedAt: t0,
          at: t0 + seq * 10_000,
          milliCredits: seq * 1000,
        }),
      );
  }
  for (let i = receipts.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [receipts[i], receipts[j]] = [receipts[j]!, receipts[i]!];
  }
  clearSignatureCache();
  let t = performance.now();
  const check = await checkReceipts(receipts);
  const verifyMs = performance.now() - t;
  const allowances = new Map(people.map((p) => [p.peerId, 10_000_000]));
  t = performance.now();
  const ledger = computeLedger({ receipts: check.receipts, allowances });
  const balanceMs = performance.now() - t;
  const kept = ledger.leases.map((l) => JSON.stringify(l.newest).length);
  const bytesPerLease = kept.reduce((a, b) => a + b, 0) / kept.length;
  log(
    `  checked in ${Math.round(verifyMs)} ms (${check.verified} signatures), balanced in ${balanceMs.toFixed(1)} ms`,
  );
  const tries = 1 << 18;
  t = performance.now();
  searchStamp("x".repeat(43), 64, 0, tries);
  const triesPerS = tries / ((performance.now() - t) / 1000);
  const stampMs = (2 ** STAMP_BITS / triesPerS) * 1000;
  log(
    `  ${Math.round(triesPerS)} stamp tries/s: a ${STAMP_BITS}-bit stamp takes ${Math.round(stampMs)} ms on average`,
  );
  return {
    ledger: {
      receipts: receipts.length,
      leases: LEASES,
      verify_ms: Math.round(verifyMs),
      signatures_checked: check.verified,
      balance_ms: Math.round(balanceMs * 10) / 10,
      bytes_per_lease: Math.round(bytesPerLease),
      stamp_ms: Math.round(stampMs),
      stamp_bits: STAMP_BITS,
    },
  };
}
