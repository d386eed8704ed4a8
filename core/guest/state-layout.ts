// Where the 4 KiB blocks of a v86 saved state lie. A v86 state is a header, an
// info JSON listing its buffers, then the buffers; blocks are aligned to the
// start of each buffer large enough to hold one (guest memory is stored as
// packed non-zero pages, so a page keeps its alignment when pages before it
// appear or vanish). Bytes that are not a v86 state use blocks aligned to byte 0.
// Pure (typed arrays only).

export const BLOCK_BYTES = 4096;
export const BLOCK_WORDS = BLOCK_BYTES / 4;

const V86_MAGIC = 0x86768676 | 0;
const V86_INFO_START = 16;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Byte offsets of the 4 KiB blocks of a state: ascending, non-overlapping, 4-aligned. */
export function blockLayout(bytes: Uint8Array): Int32Array {
  const regions = v86Regions(bytes) ?? [0, bytes.length];
  let count = 0;
  for (let r = 0; r < regions.length; r += 2)
    count += Math.floor((regions[r + 1]! - regions[r]!) / BLOCK_BYTES);
  const out = new Int32Array(count);
  let n = 0;
  for (let r = 0; r < regions.length; r += 2) {
    const end = regions[r + 1]!;
    for (let at = regions[r]!; at + BLOCK_BYTES <= end; at += BLOCK_BYTES) out[n++] = at;
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
    if ((length as number) >= BLOCK_BYTES) ranges.push([start, end]);
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
export function wordsOf(bytes: Uint8Array): Uint32Array {
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
