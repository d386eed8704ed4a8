// A byte stream's newest bytes in shared memory, so a thread can read them
// without waiting for a message. After a keystroke, a browser's main thread
// runs no task (no worker message) until it has drawn its next frame, but it
// does run that frame's animation callbacks: reading the echo there paints it
// in that frame instead of the one after.
//
// The messages still carry every byte, in order; the ring only lets a reader
// show some of them sooner. `EarlyOutput` merges the two so each byte is shown
// once. One writer; a reader that falls more than the ring's size behind gets
// nothing from it and waits for the messages.

const HEADER_BYTES = 8;
export const OUTPUT_RING_BYTES = 64 * 1024;

/** The writing side (the worker that makes the stream). */
export class OutputRingWriter {
  readonly buffer: SharedArrayBuffer;
  private readonly written: BigInt64Array;
  private readonly data: Uint8Array;
  private total = 0;

  constructor(capacityBytes = OUTPUT_RING_BYTES) {
    this.buffer = new SharedArrayBuffer(HEADER_BYTES + capacityBytes);
    this.written = new BigInt64Array(this.buffer, 0, 1);
    this.data = new Uint8Array(this.buffer, HEADER_BYTES);
  }

  /** Appends `bytes` (of which the ring keeps the newest), then publishes the new end. */
  write(bytes: Uint8Array): void {
    const cap = this.data.length;
    const keep = bytes.subarray(Math.max(0, bytes.length - cap));
    let at = (this.total + bytes.length - keep.length) % cap;
    for (let i = 0; i < keep.length; ) {
      const n = Math.min(keep.length - i, cap - at);
      this.data.set(keep.subarray(i, i + n), at);
      i += n;
      at = (at + n) % cap;
    }
    this.total += bytes.length;
    Atomics.store(this.written, 0, BigInt(this.total));
  }
}

/** Reads bytes [from, end) of the stream from a ring, or null if they are no longer all in it. */
function readRing(buffer: SharedArrayBuffer, from: number): { bytes: Uint8Array; end: number } | null {
  const written = new BigInt64Array(buffer, 0, 1);
  const data = new Uint8Array(buffer, HEADER_BYTES);
  const cap = data.length;
  const end = Number(Atomics.load(written, 0));
  if (end <= from || end - from > cap) return null;
  const out = new Uint8Array(end - from);
  for (let i = 0; i < out.length; ) {
    const at = (from + i) % cap;
    const n = Math.min(out.length - i, cap - at);
    out.set(data.subarray(at, at + n), i);
    i += n;
  }
  // The writer may have gone round the ring while we copied: then the copy is torn.
  if (Number(Atomics.load(written, 0)) - from > cap) return null;
  return { bytes: out, end };
}

/**
 * One stream seen through its messages and, when there is one, its ring: each
 * byte is handed on once, in order, through whichever brought it first.
 */
export class EarlyOutput {
  /** Bytes of the stream the messages have brought. */
  private received = 0;
  /** Bytes of the stream handed on. */
  private shown = 0;
  private ring: SharedArrayBuffer | null = null;
  /** Whether the ring was asked for (it may come later, or never). */
  asked = false;

  get hasRing(): boolean {
    return this.ring !== null;
  }

  attach(ring: SharedArrayBuffer | null): void {
    this.ring = ring;
  }

  /** A message's bytes: the part not handed on yet (null when all of it was). */
  fromMessage(bytes: Uint8Array): Uint8Array | null {
    const start = this.received;
    this.received += bytes.length;
    if (this.received <= this.shown) return null;
    const fresh = bytes.subarray(Math.max(0, this.shown - start));
    this.shown = this.received;
    return fresh;
  }

  /** What the ring holds beyond what was handed on (null when nothing new is there). */
  fromRing(): Uint8Array | null {
    if (!this.ring) return null;
    const read = readRing(this.ring, this.shown);
    if (!read) return null;
    this.shown = read.end;
    return read.bytes;
  }
}

/** Whether this thread may share memory with others (the page is cross-origin isolated). */
export function canShareMemory(): boolean {
  return (
    typeof SharedArrayBuffer !== "undefined" &&
    (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true
  );
}
