// The decoder of the state delta codec: a delta's ops replayed against the
// indexed base, every op checked before anything is written, and the output
// checked against the delta's checksum. Pure (typed arrays only).
import { toHex } from "../util/hex.ts";
import { ContentHash, hashBlock, lastLaneB } from "./block-hash.ts";
import { asIndex, type BaseIndex, type Index } from "./state-delta-base.ts";
import {
  DeltaError,
  HEADER_BYTES,
  type Header,
  OP_COPY,
  OP_LITERAL,
  OP_ZERO,
  readHeader,
} from "./state-delta-format.ts";
import { BLOCK_BYTES, blockLayout, wordsOf } from "./state-layout.ts";

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
    content.block(at, a, lastLaneB());
    pos = at + BLOCK_BYTES;
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
  let p = HEADER_BYTES;
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
