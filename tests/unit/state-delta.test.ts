// The state delta codec: exact round trips, small deltas where states share pages,
// and DeltaError (never a RangeError or a hang) on anything malformed.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import {
  applyDelta,
  type BaseIndex,
  baseFingerprint,
  DeltaError,
  deltaBaseFingerprint,
  encodeDelta,
  indexBase,
} from "../../core/guest/state-delta.ts";

const PAGE = 4096;
const HEADER = 36; // bytes before the first op

// ---------------------------------------------------------------- helpers

/** Deterministic pseudo-random bytes (xorshift32). */
function rng(seed: number): (n: number) => Uint8Array {
  let x = seed | 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  };
}

interface ParsedState {
  info: { buffer_infos: { offset: number; length: number }[]; state: unknown; [key: string]: unknown };
  buffers: Uint8Array[];
}

/** Serialises like v86 0.5.462 save_state (src/state.js): header, info JSON, 4-aligned buffers. */
function buildState(state: unknown, buffers: Uint8Array[], extra: Record<string, unknown> = {}): Uint8Array {
  const bufferInfos: { offset: number; length: number }[] = [];
  let total = 0;
  for (const b of buffers) {
    bufferInfos.push({ offset: total, length: b.length });
    total = (total + b.length + 3) & ~3;
  }
  const info = new TextEncoder().encode(JSON.stringify({ buffer_infos: bufferInfos, state, ...extra }));
  const blockStart = (16 + info.length + 3) & ~3;
  const out = new Uint8Array(blockStart + total);
  const view = new DataView(out.buffer);
  view.setInt32(0, 0x86768676 | 0, true);
  view.setInt32(4, 6, true);
  view.setInt32(8, out.length, true);
  view.setInt32(12, info.length, true);
  out.set(info, 16);
  buffers.forEach((b, i) => {
    out.set(b, blockStart + bufferInfos[i]!.offset);
  });
  return out;
}

function parseState(bytes: Uint8Array): ParsedState {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const infoLen = view.getInt32(12, true);
  const info = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + infoLen))) as ParsedState["info"];
  const blockStart = (16 + infoLen + 3) & ~3;
  const buffers = info.buffer_infos.map(({ offset, length }) =>
    bytes.slice(blockStart + offset, blockStart + offset + length),
  );
  return { info, buffers };
}

function rebuild({ info, buffers }: ParsedState): Uint8Array {
  const { buffer_infos: _, state, ...extra } = info;
  return buildState(state, buffers, extra);
}

function roundTrip(state: Uint8Array, base: BaseIndex): Uint8Array {
  const delta = encodeDelta(state, base);
  const back = applyDelta(delta, base);
  expect(back.length).toBe(state.length);
  expect(Buffer.from(back).equals(Buffer.from(state))).toBe(true);
  return delta;
}

/** What applyDelta throws, as its class name (or "none"). */
function failure(delta: Uint8Array, base: BaseIndex): string {
  try {
    applyDelta(delta, base);
    return "none";
  } catch (e) {
    return (e as Error).constructor.name;
  }
}

const setU32 = (bytes: Uint8Array, at: number, v: number) =>
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, v >>> 0, true);

// A synthetic guest: small buffers, a packed "memory" of distinct pages with some
// zero pages, an odd-length buffer, a "VGA" buffer of zeros.
const random = rng(42);
const memoryPages = 64;
function syntheticBuffers(): Uint8Array[] {
  const memory = random(memoryPages * PAGE);
  memory.fill(0, 10 * PAGE, 12 * PAGE);
  return [random(16), random(184), memory, random(3 * PAGE + 100), new Uint8Array(16 * PAGE), random(6)];
}
const synthState = { cpu: [1, 2, 3], name: "synthetic" };

// ---------------------------------------------------------------- synthetic

describe("state delta on synthetic v86 states", () => {
  const buffers = syntheticBuffers();
  const baseBytes = buildState(synthState, buffers);
  const base = indexBase(baseBytes);

  it("round-trips the base itself into a delta of a few ops", () => {
    const delta = roundTrip(baseBytes, base);
    expect(delta.length).toBeLessThan(1024);
  });

  it("round-trips a state with changed, moved, new and zeroed pages", () => {
    const b = buffers.map((x) => x.slice());
    const memory = new Uint8Array((memoryPages + 2) * PAGE);
    memory.set(b[2]!.subarray(0, 20 * PAGE)); // pages 0..19 in place
    memory.set(random(PAGE), 20 * PAGE); // a new page
    memory.set(b[2]!.subarray(20 * PAGE), 21 * PAGE); // the rest shifted by a page
    memory[5 * PAGE + 7]! ^= 0xff; // one changed byte
    memory.set(b[3]!.subarray(0, PAGE), (memoryPages + 1) * PAGE); // a page copied from another buffer
    b[2] = memory;
    b[4]![123] = 9; // a byte in the zero buffer
    const state = buildState({ ...synthState, more: "json grows by a few bytes" }, b);
    const delta = roundTrip(state, base);
    // Literals: info JSON, small buffers and tails, the new page, the changed page
    // and the touched VGA page; everything else is references and zero runs.
    expect(delta.length).toBeLessThan(3 * PAGE + 3 * PAGE + 2048);
    expect(delta.length).toBeGreaterThan(3 * PAGE);
  });

  it("aligns blocks to each buffer, not to byte 0 (the JSON length shifts every buffer)", () => {
    for (const pad of ["x", "xx", "xxx", "xxxxx"]) {
      const state = buildState(synthState, buffers, { pad });
      const delta = roundTrip(state, base);
      expect(delta.length, pad).toBeLessThan(1024);
    }
  });

  it("encodes zero pages compactly without the base having any", () => {
    const noZeros = indexBase(buildState(synthState, [random(8 * PAGE)]));
    const state = buildState(synthState, [new Uint8Array(256 * PAGE), random(10)]);
    const delta = roundTrip(state, noZeros);
    expect(delta.length).toBeLessThan(512);
  });

  it("round-trips a state that is not at a 4-byte aligned offset of its buffer", () => {
    const copy = new Uint8Array(baseBytes.length + 1);
    copy.set(baseBytes, 1);
    const delta = roundTrip(copy.subarray(1), base);
    expect(delta.length).toBeLessThan(1024);
  });

  it("tells which base a delta needs and refuses another base", () => {
    const delta = encodeDelta(baseBytes, base);
    expect(deltaBaseFingerprint(delta)).toBe(baseFingerprint(base));
    expect(baseFingerprint(base)).toMatch(/^[0-9a-f]{24}$/);

    const b = buffers.map((x) => x.slice());
    b[0]![0]! ^= 1; // one byte outside any block
    const other = indexBase(buildState(synthState, b));
    expect(baseFingerprint(other)).not.toBe(baseFingerprint(base));
    expect(() => applyDelta(delta, other)).toThrow(DeltaError);
    expect(() => applyDelta(delta, other)).toThrow(/needs base/);

    const c = buffers.map((x) => x.slice());
    c[2]![30 * PAGE]! ^= 1; // one byte inside a block
    expect(baseFingerprint(indexBase(buildState(synthState, c)))).not.toBe(baseFingerprint(base));
  });
});

// ---------------------------------------------------------------- hostile deltas

describe("applyDelta on malformed deltas", () => {
  // Small, so that every byte can be flipped: literals, copies and a zero run.
  const memory = random(8 * PAGE);
  memory.fill(0, 2 * PAGE, 3 * PAGE);
  const buffers = [random(16), memory, new Uint8Array(2 * PAGE), random(6)];
  const base = indexBase(buildState(synthState, buffers));
  const b = buffers.map((x) => x.slice());
  b[0]![3]! ^= 1;
  b[1]!.copyWithin(5 * PAGE, 0, PAGE);
  b[1]!.fill(0, 6 * PAGE, 7 * PAGE);
  const state = buildState(synthState, b);
  const delta = encodeDelta(state, base);

  it("uses every kind of op in the delta under test", () => {
    expect(failure(delta, base)).toBe("none");
    const ops = new Set<number>();
    for (let p = HEADER, i = 0; i < new DataView(delta.buffer).getUint32(12, true); i++) {
      const op = delta[p++]!;
      ops.add(op);
      const read = () => {
        let v = 0;
        for (let scale = 1; ; scale *= 128) {
          const byte = delta[p++]!;
          v += (byte & 0x7f) * scale;
          if (byte < 0x80) return v;
        }
      };
      if (op === 2) read();
      const len = read();
      if (op === 1) p += len;
    }
    expect([...ops].sort()).toEqual([1, 2, 3]);
  });

  it("throws DeltaError on every truncation", () => {
    for (let n = 0; n < delta.length; n++) {
      expect(failure(delta.subarray(0, n), base), `length ${n}`).toBe("DeltaError");
    }
    expect(failure(delta, base)).toBe("none");
  });

  it("throws DeltaError on trailing bytes", () => {
    const longer = new Uint8Array(delta.length + 1);
    longer.set(delta);
    expect(failure(longer, base)).toBe("DeltaError");
  });

  it("throws DeltaError on corrupted header fields", () => {
    const cases: [string, number, number][] = [
      ["magic", 0, 0x44534353 ^ 1],
      ["version", 4, 2],
      ["output length +1", 8, state.length + 1],
      ["output length -1", 8, state.length - 1],
      ["output length 4 GiB", 8, 0xffffffff],
      ["output length at the limit", 8, 512 * 1024 * 1024],
      ["op count +1", 12, new DataView(delta.buffer).getUint32(12, true) + 1],
      ["op count -1", 12, new DataView(delta.buffer).getUint32(12, true) - 1],
      ["op count 0", 12, 0],
      ["op count huge", 12, 0xffffffff],
      ["fingerprint", 20, 1234],
      ["checksum", 28, 1234],
    ];
    for (const [what, at, value] of cases) {
      const bad = delta.slice();
      setU32(bad, at, value);
      expect(failure(bad, base), what).toBe("DeltaError");
    }
  });

  it("throws DeltaError on bad ops", () => {
    const fp = delta.subarray(16, 36);
    const withOps = (outputLength: number, ops: number[][]) => {
      const body = ops.flat();
      const d = new Uint8Array(HEADER + body.length);
      d.set(delta.subarray(0, 8));
      setU32(d, 8, outputLength);
      setU32(d, 12, ops.length);
      d.set(fp, 16);
      d.set(body, HEADER);
      return d;
    };
    const cases: [string, Uint8Array][] = [
      ["unknown op", withOps(4, [[9, 4]])],
      ["zero-length literal", withOps(0, [[1, 0]])],
      ["literal past the end", withOps(4, [[1, 4, 1, 2]])],
      ["literal beyond the output", withOps(2, [[1, 4, 1, 2, 3, 4]])],
      ["copy outside the base", withOps(8, [[2, 0xff, 0xff, 0xff, 0xff, 0x0f, 8]])],
      ["copy straddling the base end", withOps(4096, [[2, ...varint(base.byteLength - 10), 0x80, 0x20]])],
      ["varint of six bytes", withOps(4, [[3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]])],
      ["varint of 2^32", withOps(4, [[3, 0x80, 0x80, 0x80, 0x80, 0x10]])],
      ["varint cut off", withOps(4, [[3, 0x80]])],
      ["zero run beyond the output", withOps(4, [[3, 5]])],
      ["ops short of the output", withOps(8, [[3, 4]])],
      ["zero-length zero run", withOps(0, [[3, 0]])],
    ];
    for (const [what, bad] of cases) expect(failure(bad, base), what).toBe("DeltaError");
    // The same builder makes a valid delta when the ops are right (checksum aside).
    expect(() => applyDelta(withOps(4, [[3, 4]]), base)).toThrow(/checksum/);
  });

  it("flipping any byte gives DeltaError or, at worst, the same exact state", () => {
    for (let i = 0; i < delta.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = delta.slice();
        bad[i]! ^= mask;
        let out: Uint8Array | null = null;
        try {
          out = applyDelta(bad, base);
        } catch (e) {
          expect(e, `byte ${i} ^ ${mask}`).toBeInstanceOf(DeltaError);
        }
        if (out) expect(Buffer.from(out).equals(Buffer.from(state)), `byte ${i} ^ ${mask}`).toBe(true);
      }
    }
  });

  it("throws DeltaError on random bytes, with and without a valid header", () => {
    const noise = rng(7);
    for (let i = 0; i < 300; i++) {
      const n = (noise(1)[0]! << 4) | (noise(1)[0]! % 16);
      const bad = noise(n);
      expect(failure(bad, base), `random ${i}`).toBe("DeltaError");
      if (n > HEADER) {
        bad.set(delta.subarray(0, HEADER));
        setU32(bad, 12, noise(1)[0]!);
        expect(failure(bad, base), `random ops ${i}`).toBe("DeltaError");
      }
    }
    expect(() => deltaBaseFingerprint(noise(100))).toThrow(DeltaError);
  });

  it("rejects things that are not a BaseIndex", () => {
    expect(() => applyDelta(delta, { byteLength: 5 } as unknown as BaseIndex)).toThrow(DeltaError);
  });
});

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

// ---------------------------------------------------------------- not v86

describe("state delta on inputs that are not v86 states (blocks aligned to byte 0)", () => {
  const noise = rng(99);
  const baseBytes = noise(40 * PAGE + 123);
  const base = indexBase(baseBytes);

  it("round-trips and still finds whole pages", () => {
    const state = new Uint8Array(50 * PAGE + 7);
    state.set(baseBytes.subarray(0, 10 * PAGE), 0);
    state.set(noise(PAGE + 5), 10 * PAGE);
    state.set(baseBytes.subarray(20 * PAGE, 40 * PAGE), 11 * PAGE + 5); // not page-aligned: literals
    state.set(baseBytes.subarray(5 * PAGE, 15 * PAGE), 40 * PAGE); // page-aligned: references
    const delta = roundTrip(state, base);
    // Literal: page 10 and the 21 pages holding the unaligned copy; the zero pages
    // after it and the page-aligned copy cost a few bytes.
    expect(delta.length).toBeLessThan(22 * PAGE + 7 + 200);
    expect(delta.length).toBeGreaterThan(22 * PAGE);
  });

  it("round-trips empty, tiny and v86-looking garbage, against a v86 base too", () => {
    const v86Base = indexBase(buildState(synthState, syntheticBuffers()));
    const fake = new Uint8Array(3 * PAGE);
    setU32(fake, 0, 0x86768676);
    setU32(fake, 12, 40);
    fake.set(new TextEncoder().encode('{"buffer_infos":[{"offset":1,"length":9'), 16);
    for (const input of [new Uint8Array(0), noise(1), noise(PAGE), fake, baseBytes]) {
      roundTrip(input, base);
      roundTrip(input, v86Base);
    }
    expect(encodeDelta(baseBytes, base).length).toBeLessThan(300);
  });
});

// ---------------------------------------------------------------- the real base

describe("state delta on the real base state", () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  let raw: Uint8Array;
  let base: BaseIndex;
  let memoryIndex: number; // buffer index of the packed memory
  let memoryAt: number; // its byte offset in the state
  let parsed: ParsedState;
  let selfDelta: Uint8Array;

  const time = <T>(f: () => T): [T, number] => {
    const t0 = performance.now();
    const r = f();
    return [r, performance.now() - t0];
  };

  beforeAll(() => {
    raw = new Uint8Array(gunzipSync(readFileSync(`${root}public/guest/state.bin.gz`)));
    parsed = parseState(raw);
    // v86 saves packed non-zero memory pages as the buffer right before the page bitmap.
    const bytesOfMemory = 96 * 1024 * 1024;
    const bitmapIndex = parsed.buffers.findIndex((b) => b.length === bytesOfMemory / PAGE / 8);
    expect(bitmapIndex).toBeGreaterThan(0);
    memoryIndex = bitmapIndex - 1;
    expect(parsed.buffers[memoryIndex]!.length % PAGE).toBe(0);
    expect(parsed.buffers[memoryIndex]!.length).toBeGreaterThan(1000 * PAGE);
    const infoLen = new DataView(raw.buffer, raw.byteOffset).getInt32(12, true);
    memoryAt = ((16 + infoLen + 3) & ~3) + parsed.info.buffer_infos[memoryIndex]!.offset;
  });

  it("round-trips the base itself, fast, into a tiny delta", () => {
    const [index, indexMs] = time(() => indexBase(raw));
    base = index;
    const [delta, encodeMs] = time(() => encodeDelta(raw, base));
    const [back, applyMs] = time(() => applyDelta(delta, base));
    selfDelta = delta;
    expect(Buffer.from(back).equals(Buffer.from(raw))).toBe(true);
    const gz = gzipSync(delta).length;
    console.log(
      `state-delta real base: ${raw.length} bytes; delta vs itself ${delta.length} bytes (${gz} gzip); ` +
        `indexBase ${indexMs.toFixed(0)} ms, encodeDelta ${encodeMs.toFixed(0)} ms, applyDelta ${applyMs.toFixed(0)} ms`,
    );
    expect(delta.length).toBeLessThan(raw.length / 100);
    expect(indexMs).toBeLessThan(1000);
    expect(encodeMs).toBeLessThan(1000);
  });

  it("rebuilds the base byte for byte with the test serialiser", () => {
    expect(Buffer.from(rebuild(parsed)).equals(Buffer.from(raw))).toBe(true);
  });

  it("costs about one page per changed memory page", () => {
    const state = raw.slice();
    const page = memoryAt + 1234 * PAGE;
    state[page + 100]! ^= 0x5a;
    const delta = roundTrip(state, base);
    const added = delta.length - selfDelta.length;
    console.log(`state-delta real base: one changed page adds ${added} bytes`);
    expect(added).toBeGreaterThanOrEqual(PAGE);
    expect(added).toBeLessThan(PAGE + 64);
  });

  it("still references the later pages when a new page is inserted mid-memory", () => {
    const old = parsed.buffers[memoryIndex]!;
    const at = Math.floor(old.length / PAGE / 2) * PAGE;
    const memory = new Uint8Array(old.length + PAGE);
    memory.set(old.subarray(0, at));
    memory.set(rng(5)(PAGE), at);
    memory.set(old.subarray(at), at + PAGE);
    const buffers = parsed.buffers.slice();
    buffers[memoryIndex] = memory;
    // The JSON grows by a few bytes too, so the buffers move by more than a page.
    const state = rebuild({ info: { ...parsed.info, note: "grown" }, buffers });
    const [delta, encodeMs] = time(() => encodeDelta(state, base));
    const [back, applyMs] = time(() => applyDelta(delta, base));
    expect(Buffer.from(back).equals(Buffer.from(state))).toBe(true);
    const added = delta.length - selfDelta.length;
    console.log(
      `state-delta real base: an inserted page adds ${added} bytes (delta ${delta.length}); ` +
        `encodeDelta ${encodeMs.toFixed(0)} ms, applyDelta ${applyMs.toFixed(0)} ms`,
    );
    expect(added).toBeGreaterThanOrEqual(PAGE);
    expect(added).toBeLessThan(PAGE + 256);
  });

  it("refuses a delta made against a base differing in one byte", () => {
    const otherBytes = raw.slice();
    otherBytes[memoryAt + 77 * PAGE + 1]! ^= 1;
    const other = indexBase(otherBytes);
    expect(baseFingerprint(other)).not.toBe(baseFingerprint(base));
    expect(deltaBaseFingerprint(selfDelta)).toBe(baseFingerprint(base));
    expect(() => applyDelta(selfDelta, other)).toThrow(DeltaError);
  });
});
