// The identity stamp: a proof of work over a public key, the price of a new
// identity's starting allowance. Without it, Sybil identities are free and
// every one would come with credit; with it, an allowance costs about the CPU
// time it buys. SHA-256 over a fixed prefix, the key and a nonce must start
// with STAMP_BITS zero bits: 2^STAMP_BITS tries on average.
//
// The numbers: ALLOWANCE_MILLI is 5 credits, 5 * 10^9 guest instructions, about
// 17 s of a core running v86 at 3 * 10^8 instructions a second. A core does
// about 5 * 10^5 tries a second here (`npm run bench`: ledger.stamp_ms is the
// expected time at this difficulty), so 2^23 tries, about 17 s on average,
// cost about what the allowance buys elsewhere.
import { sha256 } from "@noble/hashes/sha2.js";
import { isCount, isObject } from "../util/guards.ts";

export const STAMP_BITS = 23;
export const ALLOWANCE_MILLI = 5_000;

export interface Stamp {
  publicKey: string;
  nonce: number;
  bits: number;
}

const encoder = new TextEncoder();

function leadingZeroBits(hash: Uint8Array): number {
  let bits = 0;
  for (const byte of hash) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** A buffer of the prefix and room for the nonce (8 bytes, little-endian), reused for every try. */
function trial(publicKey: string): { input: Uint8Array; view: DataView; at: number } {
  const prefix = encoder.encode(`spare-cycles/stamp/1\n${publicKey}\n`);
  const input = new Uint8Array(prefix.length + 8);
  input.set(prefix);
  return { input, view: new DataView(input.buffer), at: prefix.length };
}

function tryNonce(t: ReturnType<typeof trial>, nonce: number): number {
  t.view.setUint32(t.at, nonce >>> 0, true);
  t.view.setUint32(t.at + 4, Math.floor(nonce / 2 ** 32), true);
  return leadingZeroBits(sha256(t.input));
}

/** Whether a stamp holds for its key (at least STAMP_BITS, or `bits` if asked for fewer in tests). */
export function checkStamp(v: unknown, minBits = STAMP_BITS): v is Stamp {
  if (!isObject(v) || typeof v.publicKey !== "string" || v.publicKey.length > 64) return false;
  if (!isCount(v.nonce) || !isCount(v.bits) || v.bits < minBits) return false;
  return tryNonce(trial(v.publicKey), v.nonce) >= v.bits;
}

/**
 * Tries `count` nonces from `fromNonce`; the first that holds, or null. Callers
 * run it in slices (a worker, reporting progress between them).
 */
export function searchStamp(publicKey: string, bits: number, fromNonce: number, count: number): Stamp | null {
  const t = trial(publicKey);
  for (let nonce = fromNonce; nonce < fromNonce + count; nonce++)
    if (tryNonce(t, nonce) >= bits) return { publicKey, nonce, bits };
  return null;
}

/** The allowance a stamp is worth (at least `minBits`, STAMP_BITS unless tests ask for fewer). */
export const allowanceFor = (stamp: unknown, minBits = STAMP_BITS): number =>
  checkStamp(stamp, minBits) ? ALLOWANCE_MILLI : 0;

/** What a stamp worker offers (worker/stamp.worker.ts): one slice of the search. */
export interface StampSearch {
  search(publicKey: string, bits: number, fromNonce: number, count: number): Stamp | null;
}
