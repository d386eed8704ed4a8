// The join proof, checked with Node's own crypto: the same Ed25519 check and
// peer id derivation as core/identity.ts (verifySignature, peerIdFromPublicKey),
// which the server used first. Measured on Node 20 here, WebCrypto's promise
// and job machinery cost the event loop about 0.9 ms per join under load and
// grew the young heap by tens of MB during a burst of joins; this is about
// 0.1 ms, synchronous, and allocates next to nothing.
// tests/integration/signaling-server.test.ts checks the two agree.
import { createHash, createPublicKey, verify } from "node:crypto";

/** Whether `signature` (base64url) is `publicKey`'s (raw Ed25519, base64url) signature of `data`. Never throws. */
export function verifyEd25519(publicKey: string, data: Uint8Array, signature: string): boolean {
  const sig = Buffer.from(signature, "base64url");
  // The key's length is checked by the JWK import (which throws for anything but 32 bytes).
  if (sig.length !== 64) return false;
  try {
    // As a JWK: OpenSSL imports that about ten times faster than the same key as DER.
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: publicKey }, format: "jwk" });
    return verify(null, data, key, sig);
  } catch {
    return false;
  }
}

/** The peer id of a public key: the first 16 bytes of SHA-256 of the raw key, as hex. */
export function peerIdOfKey(publicKey: string): string {
  return createHash("sha256").update(Buffer.from(publicKey, "base64url")).digest("hex").slice(0, 32);
}
