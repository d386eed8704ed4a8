// Signals for other instances leave in batches: all those for one instance
// within one turn of the event loop go as one PUBLISH (a JSON array), which is
// what keeps a relay across instances near the single-instance rate (one Redis
// command and one pub/sub message per message costs more than the relay
// itself). A batch is bounded (maxBatch signals), and close() ends the timer.

/** Signals per PUBLISH at most; a full batch leaves at once. */
export const MAX_BATCH = 256;

export class SignalBatcher {
  private readonly batches = new Map<string, string[]>();
  private scheduled: ReturnType<typeof setImmediate> | null = null;

  constructor(private readonly publish: (instance: string, text: string) => void) {}

  /** Queues an encoded signal (bus-messages.ts encodeSignal) for `instance`. */
  add(instance: string, encoded: string): void {
    let batch = this.batches.get(instance);
    if (!batch) {
      batch = [];
      this.batches.set(instance, batch);
    }
    batch.push(encoded);
    if (batch.length >= MAX_BATCH) {
      this.batches.delete(instance);
      this.publish(instance, `[${batch.join(",")}]`);
      return;
    }
    this.scheduled ??= setImmediate(() => this.flush());
  }

  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    for (const [instance, batch] of this.batches) this.publish(instance, `[${batch.join(",")}]`);
    this.batches.clear();
  }

  /** Drops what is queued (the bus is gone) and ends the timer. */
  clear(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    this.batches.clear();
  }
}
