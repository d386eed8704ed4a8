// Signed entries: authority in the shared document comes from signatures, never
// from where something sits in it. An entry carries its payload, the signer's
// public key and an Ed25519 signature over a canonical encoding of the payload
// under a kind (so a signature for one kind of entry is never valid as another).
//
// Anyone can write anything into the document, so reading an entry never
// throws: a payload is walked, bounded, before it is encoded (only JSON values,
// at most MAX_DEPTH deep and MAX_CANONICAL_CHARS long), keys and signatures
// count only in their canonical spelling, and whatever fails makes that one
// entry invalid (null), never the read around it.

import { LRUCache } from "lru-cache";
import {
  type Identity,
  isPublicKeyText,
  isSignatureText,
  peerIdFromPublicKey,
  sign,
  signatureVerdict,
} from "./identity.ts";

export interface SignedEntry<T> {
  kind: string;
  payload: T;
  publicKey: string;
  signature: string;
}

/** Deepest nesting a signed payload may have (the entries we sign are 3 deep at most). */
export const MAX_DEPTH = 32;
/** Longest canonical encoding of a signed payload, in UTF-16 units. */
export const MAX_CANONICAL_CHARS = 64 * 1024;

/** A value too deep, too large, or not JSON (a BigInt, a byte array, a cycle, NaN...). */
class NotCanonical extends Error {}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * JSON with object keys sorted at every level: one byte string per value. Throws
 * for a value canonicalJsonOrNull refuses (call it on values known to be good).
 */
export function canonicalJson(value: unknown): string {
  const json = canonicalJsonOrNull(value);
  if (json === null) throw new TypeError("not plain, bounded JSON");
  return json;
}

/**
 * canonicalJson, or null when the value is not plain JSON (only null, booleans,
 * finite numbers, strings, arrays and plain objects; undefined object members are
 * left out), is nested deeper than MAX_DEPTH or encodes longer than
 * MAX_CANONICAL_CHARS. Never throws, and its work is bounded by those limits.
 */
export function canonicalJsonOrNull(value: unknown): string | null {
  try {
    return encodeCanonical(value, 0, 0);
  } catch {
    return null; // NotCanonical, or anything stranger (a getter that throws, a proxy)
  }
}

/** Object keys in canonical order (most payloads already have them so: then nothing is sorted). */
function orderedKeys(v: Record<string, unknown>): string[] {
  const keys = Object.keys(v).filter((k) => v[k] !== undefined);
  for (let i = 1; i < keys.length; i++)
    if (keys[i - 1]! > keys[i]!) return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return keys;
}

/**
 * Appends `v`'s canonical JSON to a string already `used` long, throwing
 * NotCanonical as soon as the whole would pass MAX_CANONICAL_CHARS.
 */
function encodeCanonical(v: unknown, depth: number, used: number): string {
  let out: string;
  if (v === null || typeof v === "boolean" || typeof v === "string") out = JSON.stringify(v);
  else if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new NotCanonical();
    out = JSON.stringify(v);
  } else if (typeof v !== "object")
    throw new NotCanonical(); // undefined, bigint, function, symbol
  else if (depth >= MAX_DEPTH) throw new NotCanonical();
  else if (Array.isArray(v)) {
    out = "[";
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ",";
      out += encodeCanonical(v[i], depth + 1, used + out.length);
    }
    out += "]";
  } else {
    if (!isPlainObject(v)) throw new NotCanonical();
    const o = v as Record<string, unknown>;
    out = "{";
    for (const k of orderedKeys(o)) {
      if (out.length > 1) out += ",";
      out += `${JSON.stringify(k)}:`;
      out += encodeCanonical(o[k], depth + 1, used + out.length);
    }
    out += "}";
  }
  if (used + out.length > MAX_CANONICAL_CHARS) throw new NotCanonical();
  return out;
}

function signedText(kind: string, payload: unknown): string | null {
  const json = canonicalJsonOrNull(payload);
  return json === null ? null : `spare-cycles/${kind}\n${json}`;
}

/** How many signature checks are remembered: room for a large network's entries, and its Sybils. */
export const SIGNATURE_CACHE_SIZE = 20_000;

/**
 * Signature checks already done, keyed by the key and the signature, each with
 * the signed text it was for (a hit needs the same text: the same signature under
 * another payload is checked anew), so readers that look at the same entries
 * again and again (the document, presence) verify each once.
 */
const checked = new LRUCache<string, Check>({ max: SIGNATURE_CACHE_SIZE });
/** Peer ids by public key (a SHA-256 each). */
const peerIds = new LRUCache<string, Known<string>>({ max: SIGNATURE_CACHE_SIZE });

/** A check under way or done: `settled` is its answer once there is one, so a hit costs no wait. */
interface Known<T> {
  pending: Promise<T>;
  settled?: T;
}

interface Check extends Known<boolean> {
  text: string;
}

/** What the verifier has done since it started (for the Network page and for tests). */
export const verifierStats = {
  /** Signatures checked with WebCrypto. */
  verified: 0,
  /** Signature checks answered from the cache. */
  cacheHits: 0,
  /** Entries refused before any signature check: wrong shape, kind, key or signature spelling, payload. */
  malformed: 0,
  /** Entries whose signature did not hold. */
  badSignature: 0,
  /** Entries WebCrypto could not check (no verdict; checked again when read again). */
  unchecked: 0,
};

/** Forgets every remembered check (tests). */
export function clearSignatureCache(): void {
  checked.clear();
  peerIds.clear();
}

/**
 * Puts `known` in `cache` under `key`, and its answer in `settled` once it comes.
 * One that fails is no answer (WebCrypto could not work it out): it leaves the
 * cache, so the next read works it out again instead of keeping the failure.
 */
function remember<T, K extends Known<T>>(cache: LRUCache<string, K>, key: string, known: K): K {
  cache.set(key, known);
  known.pending.then(
    (v) => {
      known.settled = v;
    },
    () => {
      if (cache.get(key) === known) cache.delete(key);
    },
  );
  return known;
}

function checkSignature(publicKey: string, text: string, signature: string): Known<boolean> {
  const key = `${publicKey}${signature}`;
  const hit = checked.get(key);
  if (hit && hit.text === text) {
    verifierStats.cacheHits++;
    return hit;
  }
  verifierStats.verified++;
  // A check WebCrypto could not make is no verdict (remembered, one failure would make a valid
  // entry count as forged for as long as it is cached): remember() forgets it.
  return remember<boolean, Check>(checked, key, {
    text,
    pending: signatureVerdict(publicKey, new TextEncoder().encode(text), signature),
  });
}

function knownPeerId(publicKey: string): Known<string> {
  return peerIds.get(publicKey) ?? remember(peerIds, publicKey, { pending: peerIdFromPublicKey(publicKey) });
}

/** peerIdFromPublicKey, remembered (the same bounded cache the verifier uses). */
export function peerIdOfKey(publicKey: string): Promise<string> {
  return knownPeerId(publicKey).pending;
}

/** The peer id of a key already derived, without waiting; undefined if it is not at hand. */
export function peerIdOfKeyNow(publicKey: string): string | undefined {
  return peerIds.get(publicKey)?.settled;
}

export async function signEntry<T>(identity: Identity, kind: string, payload: T): Promise<SignedEntry<T>> {
  const text = signedText(kind, payload);
  if (text === null) throw new Error(`a ${kind} payload is not plain, bounded JSON`);
  return {
    kind,
    payload,
    publicKey: identity.publicKey,
    signature: await sign(identity, new TextEncoder().encode(text)),
  };
}

export interface Verified<T> {
  payload: T;
  /** The signer's peer id, derived from its key. */
  signer: string;
  publicKey: string;
  /** The signed payload's canonical JSON, as it was checked (one walk, shared with readers that need it). */
  canonical: string;
}

/**
 * Checks an entry read from anywhere (the document, a peer): its shape, its kind,
 * and its signature. `parse` validates the payload. Returns null when any fails;
 * never throws, whatever `value` is.
 */
export async function verifyEntry<T>(
  value: unknown,
  kind: string,
  parse: (payload: unknown) => T | null,
): Promise<Verified<T> | null> {
  try {
    if (typeof value !== "object" || value === null) return malformed();
    const e = value as Record<string, unknown>;
    if (e.kind !== kind || !isPublicKeyText(e.publicKey) || !isSignatureText(e.signature)) return malformed();
    const text = signedText(kind, e.payload);
    if (text === null) return malformed();
    const payload = parse(e.payload);
    if (payload === null) return malformed();
    // Answers already at hand are taken without a wait: floods bring the same entries again and again.
    const check = checkSignature(e.publicKey, text, e.signature);
    let valid: boolean;
    try {
      valid = check.settled ?? (await check.pending);
    } catch {
      verifierStats.unchecked++;
      return null;
    }
    if (!valid) {
      verifierStats.badSignature++;
      return null;
    }
    const id = knownPeerId(e.publicKey);
    const canonical = text.slice(text.indexOf("\n") + 1);
    return { payload, signer: id.settled ?? (await id.pending), publicKey: e.publicKey, canonical };
  } catch {
    return malformed();
  }
}

function malformed(): null {
  verifierStats.malformed++;
  return null;
}
