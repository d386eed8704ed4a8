// Input held until whoever takes it is ready (a VM still loading, a shell
// between hosts): kept in order, bounded, and what does not fit is counted so
// the user can be told, never silently lost.

/** How much typing is held by default: minutes of typing, or a modest paste. */
export const PENDING_INPUT_MAX_BYTES = 8 * 1024;

export class PendingInput {
  private chunks: Uint8Array[] = [];
  private heldBytes = 0;
  private droppedBytes = 0;

  constructor(readonly maxBytes = PENDING_INPUT_MAX_BYTES) {}

  /** Bytes held now. */
  get size(): number {
    return this.heldBytes;
  }

  /** Bytes that did not fit since the last `take` (or `clear`). */
  get dropped(): number {
    return this.droppedBytes;
  }

  /**
   * Holds a copy of `bytes` after what is already held. A chunk that does not fit
   * whole is refused whole (a keystroke is never split), and so is everything
   * after it until the next `take`, so what is delivered is always a prefix of
   * what was typed. False when `bytes` were refused.
   */
  push(bytes: Uint8Array): boolean {
    if (bytes.length === 0) return true;
    if (this.droppedBytes > 0 || this.heldBytes + bytes.length > this.maxBytes) {
      this.droppedBytes += bytes.length;
      return false;
    }
    this.chunks.push(bytes.slice());
    this.heldBytes += bytes.length;
    return true;
  }

  /** Everything held, in order, as one chunk (null when nothing is); empties the queue. */
  take(): Uint8Array | null {
    const chunks = this.chunks;
    const total = this.heldBytes;
    this.clear();
    if (total === 0) return null;
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  /** Forgets what is held and what was dropped. */
  clear(): void {
    this.chunks = [];
    this.heldBytes = 0;
    this.droppedBytes = 0;
  }
}

/** What to tell the user when typing did not fit while it waited. */
export function droppedInputNote(droppedBytes: number, waitingFor: string): string {
  const what = droppedBytes === 1 ? "1 keystroke" : `${droppedBytes} bytes of typing`;
  return `${what} did not fit while ${waitingFor} and ${droppedBytes === 1 ? "was" : "were"} dropped; type again.`;
}
