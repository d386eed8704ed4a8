// Gathers serial output bytes (v86 emits one event per byte) and hands them on
// in batches: all bytes of one emulator tick together (flushed on the next
// task), or sooner when `maxBytes` are waiting.

export class SerialBatcher {
  private buffer: Uint8Array;
  private length = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

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
    else this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
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
