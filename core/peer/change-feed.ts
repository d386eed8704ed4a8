// "Something changed", debounced: many changes within `delayMs` make one event.
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";

interface ChangeEvents {
  change: () => void;
}

export class ChangeFeed {
  private readonly events = new Emitter<ChangeEvents>();
  private cancelPending: (() => void) | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly delayMs: number,
  ) {}

  on<K extends keyof ChangeEvents>(event: K, handler: ChangeEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  /** Reports a change within `delayMs`, together with any others until then. */
  changed(): void {
    if (this.cancelPending) return;
    this.cancelPending = this.clock.after(this.delayMs, () => {
      this.cancelPending = null;
      this.events.emit("change");
    });
  }

  /** Drops a pending report; `clear` also forgets the listeners. */
  cancel(): void {
    this.cancelPending?.();
    this.cancelPending = null;
  }

  clear(): void {
    this.cancel();
    this.events.clear();
  }
}
