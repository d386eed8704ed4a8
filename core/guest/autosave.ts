// When to save a VM on its own: soon after activity settles, never later than
// a limit after the first unsaved change, and now and then even when nothing
// visible happened (the guest may work silently in the background).
//
// Local saves are small deltas (a tenth of a second to make), so the defaults
// keep at most about a second of work unsaved: half a second after the last
// keystroke or output, and every few seconds while the guest keeps busy.

export interface AutosaveOptions {
  /** Quiet time after the last activity before saving. */
  idleMs?: number;
  /** Longest an unsaved change may wait. */
  maxDelayMs?: number;
  /** Save this often while running, changed or not. */
  periodicMs?: number;
}

export const AUTOSAVE_DEFAULTS: Required<AutosaveOptions> = {
  idleMs: 500,
  maxDelayMs: 3000,
  periodicMs: 30_000,
};

export class AutosavePolicy {
  private readonly idleMs: number;
  private readonly maxDelayMs: number;
  private readonly periodicMs: number;
  private firstChangeMs: number | null = null;
  private lastActivityMs = 0;
  private lastSaveMs: number;

  constructor(nowMs: number, options: AutosaveOptions = {}) {
    this.idleMs = options.idleMs ?? AUTOSAVE_DEFAULTS.idleMs;
    this.maxDelayMs = options.maxDelayMs ?? AUTOSAVE_DEFAULTS.maxDelayMs;
    this.periodicMs = options.periodicMs ?? AUTOSAVE_DEFAULTS.periodicMs;
    this.lastSaveMs = nowMs;
  }

  /** Something changed since the last save that completed (a save under way does not count yet). */
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
    if (this.firstChangeMs === null) return;
    // What is still unsaved changed after the save began, not at the first change it covered.
    this.firstChangeMs = this.lastActivityMs < startedMs ? null : Math.max(this.firstChangeMs, startedMs);
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
