// A person's (or a headless contributor's) identity: an Ed25519 key pair made
// with WebCrypto. The peer id is derived from the public key, so nobody can use
// an id without holding its private key. The key can be exported to a file and
// imported on another device.
import { fromBase64Url, isBase64UrlOf, toBase64Url } from "../util/base64url.ts";
import { toHex } from "../util/hex.ts";
import { type BoxKeyPair, boxKeyPairFromJwk, createBoxKeyPair } from "./vm-crypto.ts";

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** Whether a value is a public key spelled the one way keys count: canonical base64url, 43 characters. */
export const isPublicKeyText = (v: unknown): v is string => isBase64UrlOf(v, PUBLIC_KEY_BYTES);
/** Whether a value is a signature spelled the one way signatures count: canonical base64url, 86 characters. */
export const isSignatureText = (v: unknown): v is string => isBase64UrlOf(v, SIGNATURE_BYTES);
/** 16 bytes of SHA-256(public key), as hex. */
export const PEER_ID_PATTERN = /^[0-9a-f]{32}$/;

export interface Identity {
  peerId: string;
  /** Raw 32-byte Ed25519 public key, base64url. */
  publicKey: string;
  privateKey: CryptoKey;
  /** X25519 key pair others seal secrets to (a VM's key, for its host). */
  box: BoxKeyPair;
}

export interface IdentityFile {
  format: "spare-cycles-identity";
  version: 1;
  peerId: string;
  createdAt: string;
  privateKey: JsonWebKey;
  /** The X25519 key (made anew when a file has none). */
  boxKey?: JsonWebKey;
  /** Keys of the VMs this identity owns, by VM id (base64url AES keys). */
  vmKeys?: Record<string, string>;
}

export class IdentityError extends Error {}

const ED25519 = { name: "Ed25519" } as const;

export async function peerIdFromPublicKey(publicKey: string): Promise<string> {
  const raw = isPublicKeyText(publicKey) ? fromBase64Url(publicKey) : null;
  if (!raw || raw.length !== PUBLIC_KEY_BYTES) throw new IdentityError("not an Ed25519 public key");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw as BufferSource));
  return toHex(digest.subarray(0, 16));
}

export async function createIdentity(): Promise<Identity> {
  const pair = (await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"])) as CryptoKeyPair;
  return identityFromPrivateJwk(await crypto.subtle.exportKey("jwk", pair.privateKey));
}

export async function identityFromPrivateJwk(jwk: JsonWebKey, boxJwk?: JsonWebKey): Promise<Identity> {
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.d !== "string" || typeof jwk.x !== "string") {
    throw new IdentityError("not an Ed25519 private key");
  }
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey("jwk", jwk, ED25519, true, ["sign"]);
  } catch (err) {
    throw new IdentityError(`the key does not import: ${String(err)}`);
  }
  // The public half in the file must be the private key's own.
  const probe = new TextEncoder().encode("spare-cycles key check");
  const signature = new Uint8Array(await crypto.subtle.sign(ED25519, privateKey, probe));
  if (!(await verifySignature(jwk.x, probe, toBase64Url(signature)))) {
    throw new IdentityError("the key's public half does not match its private half");
  }
  let box: BoxKeyPair;
  try {
    box = boxJwk ? await boxKeyPairFromJwk(boxJwk) : await createBoxKeyPair();
  } catch (err) {
    throw new IdentityError(`the box key does not import: ${String(err)}`);
  }
  return { peerId: await peerIdFromPublicKey(jwk.x), publicKey: jwk.x, privateKey, box };
}

export async function exportIdentity(
  identity: Identity,
  extra: { createdAt?: Date; vmKeys?: Record<string, string> } = {},
): Promise<IdentityFile> {
  return {
    format: "spare-cycles-identity",
    version: 1,
    peerId: identity.peerId,
    createdAt: (extra.createdAt ?? new Date()).toISOString(),
    privateKey: await crypto.subtle.exportKey("jwk", identity.privateKey),
    boxKey: await crypto.subtle.exportKey("jwk", identity.box.privateKey),
    ...(extra.vmKeys && { vmKeys: extra.vmKeys }),
  };
}

/** The VM keys an identity file carries (only well-formed ones). */
export function vmKeysOf(file: unknown): Record<string, string> {
  const keys = (file as Partial<IdentityFile> | null)?.vmKeys;
  if (typeof keys !== "object" || keys === null) return {};
  return Object.fromEntries(
    Object.entries(keys).filter(([id, k]) => /^[0-9a-f]{32}$/.test(id) && isBase64UrlOf(k, 32)),
  );
}

/** Reads an identity file (already parsed from JSON); throws IdentityError with a reason. */
export async function importIdentity(file: unknown): Promise<Identity> {
  if (typeof file !== "object" || file === null) throw new IdentityError("not an identity file");
  const f = file as Partial<IdentityFile>;
  if (f.format !== "spare-cycles-identity" || f.version !== 1)
    throw new IdentityError("not a Spare Cycles identity file");
  if (typeof f.privateKey !== "object" || f.privateKey === null)
    throw new IdentityError("the file holds no key");
  const box = typeof f.boxKey === "object" && f.boxKey !== null ? f.boxKey : undefined;
  const identity = await identityFromPrivateJwk(f.privateKey, box);
  if (f.peerId !== undefined && f.peerId !== identity.peerId) {
    throw new IdentityError("the file's peer id does not match its key");
  }
  return identity;
}

export async function sign(identity: Identity, data: Uint8Array): Promise<string> {
  return toBase64Url(
    new Uint8Array(await crypto.subtle.sign(ED25519, identity.privateKey, data as BufferSource)),
  );
}

/** Whether `signature` (base64url) is `publicKey`'s signature of `data`. Never throws. */
export async function verifySignature(
  publicKey: string,
  data: Uint8Array,
  signature: string,
): Promise<boolean> {
  return signatureVerdict(publicKey, data, signature).catch(() => false);
}

/**
 * verifySignature's verdict, or a rejection when there is none: WebCrypto failed
 * while checking a well-formed key and signature (then a later check may hold).
 * A key that does not import is a verdict: false.
 */
export async function signatureVerdict(
  publicKey: string,
  data: Uint8Array,
  signature: string,
): Promise<boolean> {
  if (!isPublicKeyText(publicKey) || !isSignatureText(signature)) return false;
  const raw = fromBase64Url(publicKey);
  const sig = fromBase64Url(signature);
  if (!raw || raw.length !== PUBLIC_KEY_BYTES || !sig || sig.length !== SIGNATURE_BYTES) return false;
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("raw", raw as BufferSource, ED25519, false, ["verify"]);
  } catch {
    return false;
  }
  return crypto.subtle.verify(ED25519, key, sig as BufferSource, data as BufferSource);
}

export function shortPeerId(peerId: string): string {
  return peerId.slice(0, 8);
}
