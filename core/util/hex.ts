// Lower-case hex for ids, hashes and fingerprints: the one encoder core uses.

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Decodes exactly `length` bytes of hex (the caller has checked the text's pattern). */
export function fromHex(hex: string, length = hex.length / 2): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16));
}

/** `count` random bytes as hex (nonces, transfer ids). */
export function randomHex(count: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(count)));
}
