// When to save a VM on its own: soon after activity settles, never later than
// a limit after the first unsaved change, and now and then even when nothing
// visible happened (the guest may work silently in the background).

export interface AutosaveOptions {
  /** Quiet time after the last activity before saving. */
  idleMs?: number;
  /** Longest an unsaved change may wait. */
  maxDelayMs?: number;
  /** Save this often while running, changed or not. */
  periodicMs?: number;
}

export class AutosavePolicy {
  private readonly idleMs: number;
  private readonly maxDelayMs: number;
  private readonly periodicMs: number;
  private firstChangeMs: number | null = null;
  private lastActivityMs = 0;
  private lastSaveMs: number;

  constructor(nowMs: number, options: AutosaveOptions = {}) {
    this.idleMs = options.idleMs ?? 2000;
    this.maxDelayMs = options.maxDelayMs ?? 15_000;
    this.periodicMs = options.periodicMs ?? 120_000;
    this.lastSaveMs = nowMs;
  }

  get dirty(): boolean {
    return this.firstChangeMs !== null;
  }

  /** Something changed (input typed, output printed). */
  noteActivity(nowMs: number): void {
    this.firstChangeMs ??= nowMs;
    this.lastActivityMs = nowMs;
  }

  /** A save began at `startedMs` and completed: changes after its start stay unsaved. */
  noteSaved(startedMs: number): void {
    this.lastSaveMs = startedMs;
    if (this.firstChangeMs !== null && this.lastActivityMs < startedMs) this.firstChangeMs = null;
  }

  /** Milliseconds from `nowMs` until the next save is due (0 = now). */
  dueInMs(nowMs: number): number {
    let due = this.lastSaveMs + this.periodicMs;
    if (this.firstChangeMs !== null) {
      due = Math.min(due, this.lastActivityMs + this.idleMs, this.firstChangeMs + this.maxDelayMs);
    }
    return Math.max(0, due - nowMs);
  }
}
