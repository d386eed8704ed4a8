// Delta codec for v86 saved states: a checkpoint is sent as what differs from the
// public base state every peer already has. Pure and environment-neutral (typed
// arrays only), so it runs in browsers, workers and Node alike.
//
// Both inputs are cut into 4 KiB blocks aligned to the start of each v86 state
// buffer (guest memory is stored as packed non-zero pages, so a page keeps its
// alignment when pages before it appear or vanish). A block of the new state is
// then a run-merged reference to an identical base block, a run of zeros, or a
// literal; everything outside the blocks (header, info JSON, small buffers,
// tails) is literal. Inputs that are not v86 states use blocks aligned to byte 0.
//
// Delta layout (little-endian):
//    0  "SCSD"                 magic
//    4  u32 version (1)
//    8  u32 output length
//   12  u32 op count
//   16  12-byte base fingerprint: u32 base length, u32 hash lane A, u32 hash lane B
//   28  8-byte output checksum: u32 hash lane A, u32 hash lane B (same hash, of the output)
//   36  ops, each an opcode byte then LEB128 unsigned varints (< 2^32):
//         1 LITERAL  len, then len bytes
//         2 COPY     base offset, len          (len bytes of the base from offset)
//         3 ZERO     len
// The ops cover the output exactly once, in order; every len is > 0.
import { toHex } from "../util/hex.ts";

export class DeltaError extends Error {
  override name = "DeltaError";
}

declare const baseIndexBrand: unique symbol;

/** The base state prepared for encoding and applying (opaque); build once with indexBase. */
export interface BaseIndex {
  readonly [baseIndexBrand]: true;
  /** Length of the base state in bytes. */
  readonly byteLength: number;
}

class Index {
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

function asIndex(base: BaseIndex): Index {
  if (!(base instanceof Index)) throw new DeltaError("not a BaseIndex from indexBase()");
  return base;
}

const BLOCK = 4096;
const BLOCK_WORDS = BLOCK / 4;
/** No state, base or output may be larger than this. */
export const MAX_STATE_BYTES = 512 * 1024 * 1024;

const MAGIC = [0x53, 0x43, 0x53, 0x44]; // "SCSD"
const VERSION = 1;
const HEADER = 36;
const FINGERPRINT_AT = 16;
const FINGERPRINT_BYTES = 12;
const CHECKSUM_AT = 28;

const OP_LITERAL = 1;
const OP_COPY = 2;
const OP_ZERO = 3;

const V86_MAGIC = 0x86768676 | 0;
const V86_INFO_START = 16;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------- layout

/** Byte offsets of the 4 KiB blocks of a state: ascending, non-overlapping, 4-aligned. */
function blockLayout(bytes: Uint8Array): Int32Array {
  const regions = v86Regions(bytes) ?? [0, bytes.length];
  let count = 0;
  for (let r = 0; r < regions.length; r += 2) count += Math.floor((regions[r + 1]! - regions[r]!) / BLOCK);
  const out = new Int32Array(count);
  let n = 0;
  for (let r = 0; r < regions.length; r += 2) {
    const end = regions[r + 1]!;
    for (let at = regions[r]!; at + BLOCK <= end; at += BLOCK) out[n++] = at;
  }
  return out;
}

/**
 * [start, end) byte ranges of the buffers of a v86 state that hold at least one
 * block, sorted and disjoint; null when bytes are not an uncompressed v86 state.
 */
function v86Regions(bytes: Uint8Array): number[] | null {
  if (bytes.length < V86_INFO_START) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getInt32(0, true) !== V86_MAGIC) return null;
  const infoLen = view.getInt32(12, true);
  if (infoLen <= 0 || infoLen > bytes.length - V86_INFO_START) return null;
  let infos: unknown;
  try {
    const json = new TextDecoder().decode(bytes.subarray(V86_INFO_START, V86_INFO_START + infoLen));
    infos = (JSON.parse(json) as { buffer_infos?: unknown } | null)?.buffer_infos;
  } catch {
    return null;
  }
  if (!Array.isArray(infos)) return null;
  const blockStart = (V86_INFO_START + infoLen + 3) & ~3;
  const ranges: [number, number][] = [];
  for (const info of infos as unknown[]) {
    if (typeof info !== "object" || info === null) return null;
    const { offset, length } = info as { offset?: unknown; length?: unknown };
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length)) return null;
    const start = blockStart + (offset as number);
    const end = start + (length as number);
    if ((offset as number) < 0 || (length as number) < 0 || end > bytes.length) return null;
    if (start % 4 !== 0) return null;
    if ((length as number) >= BLOCK) ranges.push([start, end]);
  }
  ranges.sort((x, y) => x[0] - y[0]);
  const out: number[] = [];
  let last = 0;
  for (const [start, end] of ranges) {
    if (start < last) continue; // overlapping buffers: keep the first
    out.push(start, end);
    last = end;
  }
  return out;
}

/** Little-endian 32-bit words of bytes (length rounded down): a view when aligned, else a copy. */
function wordsOf(bytes: Uint8Array): Uint32Array {
  const count = bytes.length >>> 2;
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0)
    return new Uint32Array(bytes.buffer, bytes.byteOffset, count);
  const words = new Uint32Array(count);
  if (LITTLE_ENDIAN) {
    new Uint8Array(words.buffer).set(bytes.subarray(0, count * 4));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) words[i] = view.getUint32(i * 4, true);
  }
  return words;
}

// ---------------------------------------------------------------- hashing

// Two independent 32-bit lanes per block; not cryptographic (matches are always
// confirmed byte for byte, and the checksum only guards against accidents).
let laneB = 0;

/** Hash lane A of the block at word index w (returned) and lane B (left in laneB). */
function hashBlock(words: Uint32Array, w: number): number {
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

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const ZERO_WORDS = new Uint32Array(BLOCK_WORDS);
const ZERO_A = hashBlock(ZERO_WORDS, 0);
const ZERO_B = laneB;

/** Running content hash of a whole state: its gap bytes and its blocks' hashes, in order. */
class ContentHash {
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

function blocksEqual(x: Uint32Array, xw: number, y: Uint32Array, yw: number): boolean {
  for (let i = 0; i < BLOCK_WORDS; i++) if (x[xw + i] !== y[yw + i]) return false;
  return true;
}

// ---------------------------------------------------------------- index

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
    const b = laneB;
    hashA[k] = a;
    hashB[k] = b;
    content.block(at, a, b);
    pos = at + BLOCK;
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

// ---------------------------------------------------------------- encode

/** The state as an uncompressed delta against the base (callers gzip it). */
export function encodeDelta(state: Uint8Array, baseIndex: BaseIndex): Uint8Array {
  const base = asIndex(baseIndex);
  if (state.length > MAX_STATE_BYTES)
    throw new DeltaError(`state is ${state.length} bytes, more than the limit`);
  const words = wordsOf(state);
  const layout = blockLayout(state);
  const { blockOffsets, hashA, hashB, table, words: baseWords } = base;
  const mask = table.length - 1;
  const nBase = blockOffsets.length;
  const content = new ContentHash();

  // Ops as parallel arrays: kind, a (literal start in state / base offset), length.
  const kinds: number[] = [];
  const args: number[] = [];
  const lens: number[] = [];
  let size = HEADER;
  let kind = 0;
  let arg = 0;
  let len = 0;
  const flush = () => {
    if (len === 0) return;
    kinds.push(kind);
    args.push(arg);
    lens.push(len);
    size += 1 + varintSize(len);
    if (kind === OP_LITERAL) size += len;
    else if (kind === OP_COPY) size += varintSize(arg);
    len = 0;
  };
  const literal = (from: number, to: number) => {
    if (to <= from) return;
    if (kind !== OP_LITERAL || len === 0) {
      flush();
      kind = OP_LITERAL;
      arg = from;
    }
    len += to - from;
  };

  let last = -1; // base block of the latest reference
  let pos = 0;
  for (let i = 0; i < layout.length; i++) {
    const at = layout[i]!;
    literal(pos, at);
    content.bytes(state, pos, at);
    pos = at + BLOCK;
    const w = at >>> 2;
    const a = hashBlock(words, w);
    const b = laneB;
    content.block(at, a, b);

    // The base block after the previous reference first, so runs stay runs even
    // where the base holds duplicates; then zeros; then any base block.
    let match = -1;
    const next = last + 1;
    if (
      last >= 0 &&
      next < nBase &&
      hashA[next] === a &&
      hashB[next] === b &&
      blocksEqual(words, w, baseWords, blockOffsets[next]! >>> 2)
    ) {
      match = next;
    } else if (a === ZERO_A && b === ZERO_B && blocksEqual(words, w, ZERO_WORDS, 0)) {
      if (kind !== OP_ZERO) {
        flush();
        kind = OP_ZERO;
      }
      len += BLOCK;
      continue;
    } else {
      for (let slot = a & mask; ; slot = (slot + 1) & mask) {
        const j = table[slot]!;
        if (j < 0) break;
        if (hashA[j] === a && hashB[j] === b) {
          if (blocksEqual(words, w, baseWords, blockOffsets[j]! >>> 2)) match = j;
          break;
        }
      }
    }
    if (match < 0) {
      literal(at, at + BLOCK);
      continue;
    }
    last = match;
    const from = blockOffsets[match]!;
    if (kind !== OP_COPY || arg + len !== from) {
      flush();
      kind = OP_COPY;
      arg = from;
    }
    len += BLOCK;
  }
  literal(pos, state.length);
  content.bytes(state, pos, state.length);
  flush();
  const [ca, cb] = content.finish(state.length);

  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, state.length, true);
  view.setUint32(12, kinds.length, true);
  out.set(base.fingerprint, FINGERPRINT_AT);
  view.setUint32(CHECKSUM_AT, ca, true);
  view.setUint32(CHECKSUM_AT + 4, cb, true);
  let p = HEADER;
  for (let i = 0; i < kinds.length; i++) {
    const k = kinds[i]!;
    const l = lens[i]!;
    out[p++] = k;
    if (k === OP_COPY) p = writeVarint(out, p, args[i]!);
    p = writeVarint(out, p, l);
    if (k === OP_LITERAL) {
      out.set(state.subarray(args[i]!, args[i]! + l), p);
      p += l;
    }
  }
  if (p !== size) throw new Error(`state-delta: wrote ${p} bytes, planned ${size}`);
  return out;
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(out: Uint8Array, p: number, v: number): number {
  while (v >= 0x80) {
    out[p++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[p++] = v;
  return p;
}

// ---------------------------------------------------------------- apply

interface Header {
  outputLength: number;
  opCount: number;
  fingerprint: Uint8Array;
  checksumA: number;
  checksumB: number;
}

function readHeader(delta: Uint8Array): Header {
  if (!(delta instanceof Uint8Array)) throw new DeltaError("delta is not a Uint8Array");
  if (delta.length < HEADER) throw new DeltaError(`delta is ${delta.length} bytes, shorter than its header`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (delta[i] !== MAGIC[i]) throw new DeltaError("not a state delta (bad magic)");
  }
  const view = new DataView(delta.buffer, delta.byteOffset, delta.byteLength);
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw new DeltaError(`unsupported state delta version ${version}`);
  const outputLength = view.getUint32(8, true);
  if (outputLength > MAX_STATE_BYTES) throw new DeltaError(`delta declares a ${outputLength}-byte output`);
  const opCount = view.getUint32(12, true);
  // Every op takes at least two bytes.
  if (opCount > (delta.length - HEADER) / 2) throw new DeltaError(`delta declares ${opCount} ops, too many`);
  return {
    outputLength,
    opCount,
    fingerprint: delta.subarray(FINGERPRINT_AT, FINGERPRINT_AT + FINGERPRINT_BYTES),
    checksumA: view.getUint32(CHECKSUM_AT, true),
    checksumB: view.getUint32(CHECKSUM_AT + 4, true),
  };
}

/** The baseFingerprint a delta was made against; DeltaError if it is not a delta. */
export function deltaBaseFingerprint(delta: Uint8Array): string {
  return toHex(readHeader(delta).fingerprint);
}

/**
 * The exact state bytes a delta encodes. Throws DeltaError for a delta made against
 * another base and for anything malformed, truncated or failing its checksum.
 */
export function applyDelta(delta: Uint8Array, baseIndex: BaseIndex): Uint8Array {
  const base = asIndex(baseIndex);
  const header = readHeader(delta);
  const want = toHex(header.fingerprint);
  const have = toHex(base.fingerprint);
  if (want !== have) throw new DeltaError(`delta needs base ${want}, not ${have}`);
  // Validate every op before allocating the output, then write.
  runOps(delta, header, base, null);
  const out = new Uint8Array(header.outputLength);
  runOps(delta, header, base, out);

  const words = wordsOf(out);
  const content = new ContentHash();
  const layout = blockLayout(out);
  let pos = 0;
  for (let i = 0; i < layout.length; i++) {
    const at = layout[i]!;
    content.bytes(out, pos, at);
    const a = hashBlock(words, at >>> 2);
    content.block(at, a, laneB);
    pos = at + BLOCK;
  }
  content.bytes(out, pos, out.length);
  const [ca, cb] = content.finish(out.length);
  if (ca !== header.checksumA || cb !== header.checksumB) throw new DeltaError("output checksum mismatch");
  return out;
}

/** Walks the ops, throwing DeltaError on anything out of range; writes into out when given. */
function runOps(delta: Uint8Array, header: Header, base: Index, out: Uint8Array | null): void {
  const total = header.outputLength;
  const baseBytes = base.bytes;
  let p = HEADER;
  let written = 0;
  const varint = (what: string): number => {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      if (p >= delta.length) throw new DeltaError(`delta truncated in ${what}`);
      const byte = delta[p++]!;
      v += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (v > 0xffffffff) break;
        return v;
      }
      scale *= 128;
    }
    throw new DeltaError(`bad varint in ${what} at byte ${p}`);
  };
  const length = (what: string): number => {
    const len = varint(what);
    if (len === 0) throw new DeltaError(`empty ${what} at byte ${p}`);
    if (len > total - written)
      throw new DeltaError(`${what} of ${len} bytes overruns the ${total}-byte output`);
    return len;
  };
  for (let i = 0; i < header.opCount; i++) {
    if (p >= delta.length) throw new DeltaError(`delta truncated after ${i} of ${header.opCount} ops`);
    const op = delta[p++]!;
    if (op === OP_LITERAL) {
      const len = length("literal");
      if (len > delta.length - p) throw new DeltaError(`delta truncated in a ${len}-byte literal`);
      out?.set(delta.subarray(p, p + len), written);
      p += len;
      written += len;
    } else if (op === OP_COPY) {
      const from = varint("copy offset");
      const len = length("copy");
      if (from + len > baseBytes.length)
        throw new DeltaError(`copy of ${len} bytes at ${from} is outside the base`);
      out?.set(baseBytes.subarray(from, from + len), written);
      written += len;
    } else if (op === OP_ZERO) {
      written += length("zero run"); // the output starts zeroed
    } else {
      throw new DeltaError(`unknown op ${op} at byte ${p - 1}`);
    }
  }
  if (p !== delta.length) throw new DeltaError(`${delta.length - p} stray bytes after the last op`);
  if (written !== total) throw new DeltaError(`ops give ${written} bytes, the delta declares ${total}`);
}
