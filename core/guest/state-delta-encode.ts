// The encoder of the state delta codec: a state as ops against an indexed base.
// Pure (typed arrays only).
import { blocksEqual, ContentHash, hashBlock, lastLaneB, ZERO_A, ZERO_B, ZERO_WORDS } from "./block-hash.ts";
import { asIndex, type BaseIndex } from "./state-delta-base.ts";
import {
  DeltaError,
  HEADER_BYTES,
  MAX_STATE_BYTES,
  OP_COPY,
  OP_LITERAL,
  OP_ZERO,
  varintSize,
  writeHeader,
  writeVarint,
} from "./state-delta-format.ts";
import { BLOCK_BYTES, blockLayout, wordsOf } from "./state-layout.ts";

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
  let size = HEADER_BYTES;
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
    pos = at + BLOCK_BYTES;
    const w = at >>> 2;
    const a = hashBlock(words, w);
    const b = lastLaneB();
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
      len += BLOCK_BYTES;
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
      literal(at, at + BLOCK_BYTES);
      continue;
    }
    last = match;
    const from = blockOffsets[match]!;
    if (kind !== OP_COPY || arg + len !== from) {
      flush();
      kind = OP_COPY;
      arg = from;
    }
    len += BLOCK_BYTES;
  }
  literal(pos, state.length);
  content.bytes(state, pos, state.length);
  flush();
  const [ca, cb] = content.finish(state.length);

  const out = new Uint8Array(size);
  writeHeader(out, {
    outputLength: state.length,
    opCount: kinds.length,
    fingerprint: base.fingerprint,
    checksumA: ca,
    checksumB: cb,
  });
  let p = HEADER_BYTES;
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
