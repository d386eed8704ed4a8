// Signed entries: authority in the shared document comes from signatures, never
// from where something sits in it. An entry carries its payload, the signer's
// public key and an Ed25519 signature over a canonical encoding of the payload
// under a kind (so a signature for one kind of entry is never valid as another).
import { type Identity, peerIdFromPublicKey, sign, verifySignature } from "./identity.ts";

export interface SignedEntry<T> {
  kind: string;
  payload: T;
  publicKey: string;
  signature: string;
}

/** JSON with object keys sorted at every level: one byte string per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

function signedText(kind: string, payload: unknown): string {
  return `spare-cycles/${kind}\n${canonicalJson(payload)}`;
}

function signedBytes(kind: string, payload: unknown): Uint8Array {
  return new TextEncoder().encode(signedText(kind, payload));
}

/**
 * Signature checks already done, keyed by everything the answer depends on (the
 * signed text, the key and the signature), so readers that look at the same
 * entries again and again (the document, presence) verify each once.
 */
const checked = new Map<string, Promise<boolean>>();
const MAX_CHECKED = 10_000;

function checkSignature(publicKey: string, text: string, signature: string): Promise<boolean> {
  const key = `${publicKey}\n${signature}\n${text}`;
  let result = checked.get(key);
  if (!result) {
    result = verifySignature(publicKey, new TextEncoder().encode(text), signature);
    if (checked.size >= MAX_CHECKED) checked.clear();
    checked.set(key, result);
  }
  return result;
}

export async function signEntry<T>(identity: Identity, kind: string, payload: T): Promise<SignedEntry<T>> {
  return {
    kind,
    payload,
    publicKey: identity.publicKey,
    signature: await sign(identity, signedBytes(kind, payload)),
  };
}

export interface Verified<T> {
  payload: T;
  /** The signer's peer id, derived from its key. */
  signer: string;
  publicKey: string;
}

/**
 * Checks an entry read from anywhere (the document, a peer): its shape, its kind,
 * and its signature. `parse` validates the payload. Returns null when any fails.
 */
export async function verifyEntry<T>(
  value: unknown,
  kind: string,
  parse: (payload: unknown) => T | null,
): Promise<Verified<T> | null> {
  if (typeof value !== "object" || value === null) return null;
  const e = value as Record<string, unknown>;
  if (e.kind !== kind || typeof e.publicKey !== "string" || typeof e.signature !== "string") return null;
  const payload = parse(e.payload);
  if (payload === null) return null;
  if (!(await checkSignature(e.publicKey, signedText(kind, e.payload), e.signature))) return null;
  return { payload, signer: await peerIdFromPublicKey(e.publicKey), publicKey: e.publicKey };
}
