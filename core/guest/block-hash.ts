// Hashes for the state delta codec: two independent 32-bit lanes per 4 KiB block,
// and a running content hash of a whole state. Not cryptographic (matches are
// always confirmed byte for byte, and the checksum only guards against accidents).
// Pure (typed arrays only).
import { BLOCK_WORDS } from "./state-layout.ts";

let laneB = 0;

/** Hash lane A of the block at word index w (returned) and lane B (then read with lastLaneB). */
export function hashBlock(words: Uint32Array, w: number): number {
  let a = 0x3c6ef372;
  let b = 0x1b873593;
  const end = w + BLOCK_WORDS;
  for (let i = w; i < end; i++) {
    const x = words[i]!;
    a = Math.imul(a ^ x, 0x9e3779b1);
    a = (a << 13) | (a >>> 19);
    b = Math.imul(b + x, 0x85ebca6b);
    b ^= b >>> 15;
  }
  laneB = fmix(b ^ 0x5bd1e995);
  return fmix(a);
}

/** Hash lane B of the block hashBlock hashed last. */
export function lastLaneB(): number {
  return laneB;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One block of zeros, and its two hash lanes. */
export const ZERO_WORDS = new Uint32Array(BLOCK_WORDS);
export const ZERO_A = hashBlock(ZERO_WORDS, 0);
export const ZERO_B = laneB;

/** Running content hash of a whole state: its gap bytes and its blocks' hashes, in order. */
export class ContentHash {
  private a = 0x6a09e667;
  private b = 0xbb67ae85;

  bytes(bytes: Uint8Array, from: number, to: number): void {
    let { a, b } = this;
    for (let i = from; i < to; i++) {
      const x = bytes[i]!;
      a = Math.imul(a ^ x, 0x01000193);
      b = Math.imul(b + x, 0x2c1b3c6d) ^ (b >>> 17);
    }
    this.a = a;
    this.b = b;
  }

  block(offset: number, hashA: number, hashB: number): void {
    let a = Math.imul(this.a ^ offset, 0x9e3779b1);
    a = Math.imul(((a << 11) | (a >>> 21)) ^ hashA, 0x85ebca6b);
    let b = Math.imul(this.b + hashB, 0xc2b2ae35);
    b = Math.imul(((b << 7) | (b >>> 25)) ^ offset, 0x27d4eb2f);
    this.a = a;
    this.b = b;
  }

  /** Lanes A and B, finalised with the length. */
  finish(length: number): [number, number] {
    return [fmix(this.a ^ length), fmix(this.b ^ Math.imul(length, 0x9e3779b1))];
  }
}

/** Whether the blocks at word indexes xw of x and yw of y hold the same words. */
export function blocksEqual(x: Uint32Array, xw: number, y: Uint32Array, yw: number): boolean {
  for (let i = 0; i < BLOCK_WORDS; i++) if (x[xw + i] !== y[yw + i]) return false;
  return true;
}
