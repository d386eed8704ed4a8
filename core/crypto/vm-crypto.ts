// The cryptography that keeps a VM its owner's: a per-VM AES-GCM key that seals
// checkpoints (unreadable and tamper-evident for everyone without the key), and
// sealed boxes (X25519 + HKDF + AES-GCM) to hand that key to a host so that only
// that host can open it, whatever relays the message.
import { fromBase64Url, toBase64Url } from "../util/base64url.ts";

export class CryptoError extends Error {}

const AES = { name: "AES-GCM", length: 256 } as const;
const IV_BYTES = 12;

export async function createVmKey(): Promise<CryptoKey> {
  return crypto.subtle.generateKey(AES, true, ["encrypt", "decrypt"]) as Promise<CryptoKey>;
}

export async function exportVmKey(key: CryptoKey): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.exportKey("raw", key)));
}

export async function importVmKey(raw: string): Promise<CryptoKey> {
  const bytes = fromBase64Url(raw);
  if (bytes?.length !== 32) throw new CryptoError("not a VM key");
  return crypto.subtle.importKey("raw", bytes as BufferSource, AES, true, ["encrypt", "decrypt"]);
}

const encode = (text: string): Uint8Array<ArrayBuffer> =>
  new TextEncoder().encode(text) as Uint8Array<ArrayBuffer>;

/** iv ‖ AES-GCM(plaintext), bound to `context` (e.g. which VM, epoch and checkpoint). */
export async function seal(key: CryptoKey, plaintext: Uint8Array, context: string): Promise<Uint8Array> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encode(context) },
    key,
    plaintext as BufferSource,
  );
  const out = new Uint8Array(IV_BYTES + ciphertext.byteLength);
  out.set(iv);
  out.set(new Uint8Array(ciphertext), IV_BYTES);
  return out;
}

/** Opens what `seal` made; throws CryptoError when the key, the context or any byte is wrong. */
export async function unseal(key: CryptoKey, sealed: Uint8Array, context: string): Promise<Uint8Array> {
  if (sealed.length < IV_BYTES + 16) throw new CryptoError("sealed data too short");
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: sealed.slice(0, IV_BYTES), additionalData: encode(context) },
      key,
      sealed.subarray(IV_BYTES) as BufferSource,
    );
    return new Uint8Array(plain);
  } catch {
    throw new CryptoError("sealed data does not open: wrong key, or tampered with");
  }
}

// ---- Sealed boxes to a recipient's X25519 key

const X25519 = { name: "X25519" } as const;

export interface BoxKeyPair {
  /** Raw 32-byte X25519 public key, base64url. */
  publicKey: string;
  privateKey: CryptoKey;
}

export interface SealedBox {
  ephemeral: string;
  sealed: string;
}

export async function createBoxKeyPair(): Promise<BoxKeyPair> {
  const pair = (await crypto.subtle.generateKey(X25519, true, ["deriveBits"])) as CryptoKeyPair;
  return {
    publicKey: toBase64Url(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey))),
    privateKey: pair.privateKey,
  };
}

export async function boxKeyPairFromJwk(jwk: JsonWebKey): Promise<BoxKeyPair> {
  if (jwk.kty !== "OKP" || jwk.crv !== "X25519" || typeof jwk.x !== "string")
    throw new CryptoError("not an X25519 key");
  const privateKey = await crypto.subtle.importKey("jwk", jwk, X25519, true, ["deriveBits"]);
  return { publicKey: jwk.x, privateKey };
}

async function boxKey(privateKey: CryptoKey, publicKey: string, context: string): Promise<CryptoKey> {
  const raw = fromBase64Url(publicKey);
  if (raw?.length !== 32) throw new CryptoError("not an X25519 public key");
  const peer = await crypto.subtle.importKey("raw", raw as BufferSource, X25519, false, []);
  const shared = await crypto.subtle.deriveBits({ name: "X25519", public: peer }, privateKey, 256);
  const hkdf = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: encode(`spare-cycles box\n${context}`) },
    hkdf,
    AES,
    false,
    ["encrypt", "decrypt"],
  );
}

/** Seals `plaintext` so only the holder of `recipient`'s private key can open it. */
export async function sealTo(recipient: string, plaintext: Uint8Array, context: string): Promise<SealedBox> {
  const ephemeral = await createBoxKeyPair();
  const key = await boxKey(ephemeral.privateKey, recipient, context);
  return { ephemeral: ephemeral.publicKey, sealed: toBase64Url(await seal(key, plaintext, context)) };
}

export async function openBox(own: BoxKeyPair, box: SealedBox, context: string): Promise<Uint8Array> {
  const sealed = fromBase64Url(box.sealed);
  if (!sealed) throw new CryptoError("not a sealed box");
  let key: CryptoKey;
  try {
    key = await boxKey(own.privateKey, box.ephemeral, context);
  } catch (err) {
    throw err instanceof CryptoError ? err : new CryptoError("not a sealed box");
  }
  return unseal(key, sealed, context);
}

// ---- Keys per epoch

/**
 * A VM's key for one use (one epoch), derived from its master key with HKDF
 * under `info`. Whoever holds a derived key learns neither the master nor any
 * key derived under other `info`, so a host given its epoch's key cannot open
 * another epoch's checkpoints. The master must be extractable (createVmKey's is).
 */
export async function deriveVmKey(master: CryptoKey, info: string): Promise<CryptoKey> {
  const raw = await crypto.subtle.exportKey("raw", master);
  const hkdf = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: encode(`spare-cycles vm key\n${info}`) },
    hkdf,
    AES,
    true,
    ["encrypt", "decrypt"],
  );
}
