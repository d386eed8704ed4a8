// Gathers serial output bytes (v86 emits one event per byte) and hands them on
// in batches: all bytes of one emulator tick together, flushed as soon as the
// tick ends (a microtask, so an echo leaves in the same tick it was made), or
// sooner when `maxBytes` are waiting. With `intervalMs` > 0, batches wait that
// long instead.

export class SerialBatcher {
  private buffer: Uint8Array;
  private length = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** A flush is queued for the end of this tick. */
  private queued = false;

  constructor(
    private readonly deliver: (bytes: Uint8Array) => void,
    private readonly intervalMs = 0,
    private readonly maxBytes = 16 * 1024,
  ) {
    this.buffer = new Uint8Array(maxBytes);
  }

  push(byte: number): void {
    this.buffer[this.length++] = byte;
    if (this.length >= this.maxBytes) this.flush();
    else if (this.intervalMs > 0) this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
    else if (!this.queued) {
      this.queued = true;
      queueMicrotask(() => {
        this.queued = false;
        this.flush();
      });
    }
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.length === 0) return;
    const out = this.buffer.slice(0, this.length);
    this.length = 0;
    this.deliver(out);
  }

  dispose(): void {
    this.flush();
  }
}
