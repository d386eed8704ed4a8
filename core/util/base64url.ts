// base64url without padding (RFC 4648 §5), in plain JS so it runs anywhere.
// Decoding accepts only the canonical spelling: the one toBase64Url makes. The
// last character of a value whose length is not a multiple of 3 bytes carries
// unused low bits; with them set, other strings would decode to the same bytes,
// so one key or signature would have several spellings. Those are refused.

export function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Whether the unused low bits of the last character are zero (2 bits after 2 bytes, 4 after 1). */
function lastCharCanonical(text: string): boolean {
  const rest = text.length % 4;
  if (rest === 0) return true;
  const last = ALPHABET.indexOf(text[text.length - 1]!);
  return (last & (rest === 2 ? 0b1111 : 0b11)) === 0;
}

/** Decodes canonical base64url (no padding, unused bits zero); returns null for anything else. */
export function fromBase64Url(text: string): Uint8Array | null {
  if (!BASE64URL.test(text) || text.length % 4 === 1 || !lastCharCanonical(text)) return null;
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (text.length % 4)) % 4);
  try {
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** Whether `text` is the canonical base64url of exactly `bytes` bytes. */
export function isBase64UrlOf(text: unknown, bytes: number): text is string {
  return (
    typeof text === "string" &&
    text.length === Math.ceil((bytes * 4) / 3) &&
    BASE64URL.test(text) &&
    lastCharCanonical(text)
  );
}
