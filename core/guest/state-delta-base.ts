// The base state of the delta codec, indexed: every 4 KiB block hashed, an
// open-addressing table from block hash to block, and the base's fingerprint.
// Pure (typed arrays only).
import { toHex } from "../util/hex.ts";
import { ContentHash, hashBlock, lastLaneB } from "./block-hash.ts";
import { DeltaError, FINGERPRINT_BYTES, MAX_STATE_BYTES } from "./state-delta-format.ts";
import { BLOCK_BYTES, blockLayout, wordsOf } from "./state-layout.ts";

declare const baseIndexBrand: unique symbol;

/** The base state prepared for encoding and applying (opaque); build once with indexBase. */
export interface BaseIndex {
  readonly [baseIndexBrand]: true;
  /** Length of the base state in bytes. */
  readonly byteLength: number;
}

/** What a BaseIndex holds, for the encoder and decoder. */
export class Index {
  declare readonly [baseIndexBrand]: true;
  constructor(
    readonly bytes: Uint8Array,
    /** Little-endian 32-bit words of bytes (a view when possible). */
    readonly words: Uint32Array,
    /** Byte offset of every 4 KiB block, ascending. */
    readonly blockOffsets: Int32Array,
    /** Hash lanes of every block. */
    readonly hashA: Uint32Array,
    readonly hashB: Uint32Array,
    /** Open-addressing table of block indexes keyed by hashA; -1 is empty. */
    readonly table: Int32Array,
    /** 12 bytes: base length, content hash lanes A and B. */
    readonly fingerprint: Uint8Array,
  ) {}

  get byteLength(): number {
    return this.bytes.length;
  }
}

export function asIndex(base: BaseIndex): Index {
  if (!(base instanceof Index)) throw new DeltaError("not a BaseIndex from indexBase()");
  return base;
}

/**
 * Hashes every 4 KiB block of the base state. Keeps a reference to base: do not
 * modify it afterwards. Throws DeltaError for a base over MAX_STATE_BYTES.
 */
export function indexBase(base: Uint8Array): BaseIndex {
  if (!(base instanceof Uint8Array)) throw new DeltaError("base is not a Uint8Array");
  if (base.length > MAX_STATE_BYTES)
    throw new DeltaError(`base is ${base.length} bytes, more than the limit`);
  const words = wordsOf(base);
  const blockOffsets = blockLayout(base);
  const n = blockOffsets.length;
  const hashA = new Uint32Array(n);
  const hashB = new Uint32Array(n);
  let size = 16;
  while (size < n * 2) size *= 2;
  const mask = size - 1;
  const table = new Int32Array(size).fill(-1);
  const content = new ContentHash();
  let pos = 0;
  for (let k = 0; k < n; k++) {
    const at = blockOffsets[k]!;
    content.bytes(base, pos, at);
    const a = hashBlock(words, at >>> 2);
    const b = lastLaneB();
    hashA[k] = a;
    hashB[k] = b;
    content.block(at, a, b);
    pos = at + BLOCK_BYTES;
    // Keep the first of identical blocks only (same two lanes taken as identical
    // content: at worst a block is not found, never a wrong match).
    let slot = a & mask;
    for (;;) {
      const j = table[slot]!;
      if (j < 0) {
        table[slot] = k;
        break;
      }
      if (hashA[j] === a && hashB[j] === b) break;
      slot = (slot + 1) & mask;
    }
  }
  content.bytes(base, pos, base.length);
  const [fa, fb] = content.finish(base.length);
  const fingerprint = new Uint8Array(FINGERPRINT_BYTES);
  const fv = new DataView(fingerprint.buffer);
  fv.setUint32(0, base.length, true);
  fv.setUint32(4, fa, true);
  fv.setUint32(8, fb, true);
  return new Index(base, words, blockOffsets, hashA, hashB, table, fingerprint);
}

/** Hex identity of the base (its length and a hash of all its bytes). */
export function baseFingerprint(base: BaseIndex): string {
  return toHex(asIndex(base).fingerprint);
}
