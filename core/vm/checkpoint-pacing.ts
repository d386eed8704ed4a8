// When a hosted VM's next checkpoint is due: soon after the guest's activity
// settles (console bytes either way), at least every few seconds while it goes
// on, on a slow interval while nothing happens; never so often that checkpoints
// take more than `maxOverheadPct` of the VM's CPU budget; and backing off while
// nobody takes them. Pure arithmetic on one VM's pacing state, in clock ms.
//
// The cost cap is a bucket of worker time: it fills at `maxOverheadPct` of the
// budget, holds at most two checkpoints' worth, and each checkpoint takes what
// it cost. So a guest that was quiet gets its checkpoint a moment after it
// settles even if the last one was recent, and over any stretch checkpoints
// take at most a tenth of the budget plus those two.

export interface CheckpointPolicy {
  /** Quiet time after the last activity before a checkpoint (the guest has settled). */
  settleMs: number;
  /** While activity goes on without a pause, a checkpoint at least this often. */
  busyEveryMs: number;
  /** With no activity at all, a checkpoint this often (work that shows no console bytes). */
  idleEveryMs: number;
  /** Checkpoints' share of the VM's CPU budget, at most. */
  maxOverheadPct: number;
}

export const DEFAULT_POLICY: Omit<CheckpointPolicy, "idleEveryMs"> = {
  settleMs: 300,
  busyEveryMs: 5000,
  maxOverheadPct: 10,
};

/** What the overhead shown is averaged over. */
export const OVERHEAD_WINDOW_MS = 60_000;
/** The longest a host waits between tries while nobody takes its checkpoints. */
const MAX_BACKOFF_MS = 30_000;

export interface PacingState {
  /** Since when the guest has done something no checkpoint holds (null: nothing). */
  dirtySinceMs: number | null;
  lastActivityMs: number;
  /** When the previous checkpoint started (null: none yet), and what it cost the VM's worker. */
  lastStartMs: number | null;
  lastCostMs: number;
  /** Worker time checkpoints may still take (ms), as of `creditAtMs`. */
  creditMs: number;
  creditAtMs: number;
  /** Checkpoints in a row that nobody took. */
  failures: number;
  /** When this VM started running here. */
  runningSinceMs: number;
  /** The cost of each recent checkpoint, for the overhead shown. */
  costs: { atMs: number; costMs: number }[];
}

export function newPacing(nowMs: number): PacingState {
  return {
    dirtySinceMs: null,
    lastActivityMs: nowMs,
    lastStartMs: null,
    lastCostMs: 0,
    creditMs: 0,
    creditAtMs: nowMs,
    failures: 0,
    runningSinceMs: nowMs,
    costs: [],
  };
}

/** How many checkpoints' worth of worker time the bucket holds. */
const BURST = 2;

/** Worker time (ms) checkpoints earn per ms: `maxOverheadPct` of the VM's budget. */
const shareOf = (p: CheckpointPolicy, budgetPct: number) =>
  (p.maxOverheadPct / 100) * (Math.max(1, budgetPct) / 100);

/** The bucket at `nowMs`: what it held, plus what it earned since, up to two checkpoints' worth. */
function creditAt(s: PacingState, p: CheckpointPolicy, budgetPct: number, nowMs: number): number {
  const earned = Math.max(0, nowMs - s.creditAtMs) * shareOf(p, budgetPct);
  return Math.min(BURST * s.lastCostMs, s.creditMs + earned);
}

/**
 * The earliest the next checkpoint may start, by cost alone: once the bucket holds
 * what the last one cost (the next will cost about as much); and while nobody takes
 * them, not before a back-off after the last try.
 */
export function earliestByCost(s: PacingState, p: CheckpointPolicy, budgetPct: number): number {
  if (s.lastStartMs === null) return -Infinity;
  const backoff = s.failures > 0 ? s.lastStartMs + Math.min(MAX_BACKOFF_MS, 500 * 2 ** s.failures) : 0;
  const short = s.lastCostMs - creditAt(s, p, budgetPct, s.creditAtMs);
  return Math.max(backoff, short <= 0 ? s.creditAtMs : s.creditAtMs + short / shareOf(p, budgetPct));
}

/** When the next checkpoint is due (clock ms). */
export function nextDueMs(s: PacingState, p: CheckpointPolicy, budgetPct: number): number {
  const wanted =
    s.dirtySinceMs !== null
      ? Math.min(s.lastActivityMs + p.settleMs, s.dirtySinceMs + p.busyEveryMs)
      : (s.lastStartMs ?? s.runningSinceMs) + p.idleEveryMs;
  return Math.max(wanted, earliestByCost(s, p, budgetPct));
}

/** The guest did something (console bytes either way). */
export function noteActivity(s: PacingState, nowMs: number): void {
  s.lastActivityMs = nowMs;
  s.dirtySinceMs ??= nowMs;
}

/** A checkpoint started: what it will hold is no longer unsaved. Returns what to put back if it fails. */
export function noteStart(s: PacingState, nowMs: number): number | null {
  const dirty = s.dirtySinceMs;
  s.dirtySinceMs = null;
  s.lastStartMs = nowMs;
  return dirty;
}

/** A checkpoint ended: what it cost, and whether someone holds it (if not, its changes are unsaved still). */
export function noteEnd(
  s: PacingState,
  o: { startMs: number; costMs: number; held: boolean; dirtyBefore: number | null },
  p: CheckpointPolicy,
  budgetPct: number,
): void {
  // The first one finds the bucket full (the guest ran before it without any).
  const before = s.lastStartMs === o.startMs && s.costs.length === 0 ? BURST * o.costMs : null;
  s.lastCostMs = o.costMs;
  s.creditMs = (before ?? creditAt(s, p, budgetPct, o.startMs)) - o.costMs;
  s.creditAtMs = o.startMs;
  s.costs.push({ atMs: o.startMs, costMs: o.costMs });
  while (s.costs.length > 0 && s.costs[0]!.atMs < o.startMs - OVERHEAD_WINDOW_MS) s.costs.shift();
  if (o.held) {
    s.failures = 0;
    return;
  }
  s.failures++;
  if (o.dirtyBefore !== null) s.dirtySinceMs = Math.min(o.dirtyBefore, s.dirtySinceMs ?? Infinity);
}

/** Checkpoints' share of the VM's CPU budget over the last minute, in %. */
export function overheadPct(s: PacingState, nowMs: number, budgetPct: number): number {
  const spent = s.costs
    .filter((c) => c.atMs >= nowMs - OVERHEAD_WINDOW_MS)
    .reduce((sum, c) => sum + c.costMs, 0);
  return (100 * spent) / (OVERHEAD_WINDOW_MS * (Math.max(1, budgetPct) / 100));
}
