// The byte format of a state delta: its header, its ops and their varints.
// Pure (typed arrays only). Layout (little-endian):
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

export class DeltaError extends Error {
  override name = "DeltaError";
}

/** No state, base or output may be larger than this. */
export const MAX_STATE_BYTES = 512 * 1024 * 1024;

const MAGIC = [0x53, 0x43, 0x53, 0x44]; // "SCSD"
const VERSION = 1;
/** Bytes before the first op. */
export const HEADER_BYTES = 36;
const FINGERPRINT_AT = 16;
export const FINGERPRINT_BYTES = 12;
const CHECKSUM_AT = 28;

export const OP_LITERAL = 1;
export const OP_COPY = 2;
export const OP_ZERO = 3;

export interface Header {
  outputLength: number;
  opCount: number;
  fingerprint: Uint8Array;
  checksumA: number;
  checksumB: number;
}

/** Writes the header into the first HEADER_BYTES of out. */
export function writeHeader(out: Uint8Array, header: Header): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.set(MAGIC, 0);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, header.outputLength, true);
  view.setUint32(12, header.opCount, true);
  out.set(header.fingerprint, FINGERPRINT_AT);
  view.setUint32(CHECKSUM_AT, header.checksumA, true);
  view.setUint32(CHECKSUM_AT + 4, header.checksumB, true);
}

/** The header of a delta, checked for sense; DeltaError if it is not a delta. */
export function readHeader(delta: Uint8Array): Header {
  if (!(delta instanceof Uint8Array)) throw new DeltaError("delta is not a Uint8Array");
  if (delta.length < HEADER_BYTES)
    throw new DeltaError(`delta is ${delta.length} bytes, shorter than its header`);
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
  if (opCount > (delta.length - HEADER_BYTES) / 2)
    throw new DeltaError(`delta declares ${opCount} ops, too many`);
  return {
    outputLength,
    opCount,
    fingerprint: delta.subarray(FINGERPRINT_AT, FINGERPRINT_AT + FINGERPRINT_BYTES),
    checksumA: view.getUint32(CHECKSUM_AT, true),
    checksumB: view.getUint32(CHECKSUM_AT + 4, true),
  };
}

/** Bytes the LEB128 varint of v takes. */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes v as a LEB128 varint at p; returns the position after it. */
export function writeVarint(out: Uint8Array, p: number, v: number): number {
  while (v >= 0x80) {
    out[p++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[p++] = v;
  return p;
}
