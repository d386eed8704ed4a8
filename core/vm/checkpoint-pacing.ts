// When a hosted VM's next checkpoint is due: soon after the guest's activity
// settles (console bytes either way), at least every few seconds while it goes
// on, on a slow interval while nothing happens; never so often that checkpoints
// take more than `maxOverheadPct` of the VM's CPU budget; and backing off while
// nobody takes them. Pure arithmetic on one VM's pacing state, in clock ms.
//
// The cost cap is a window: what checkpoints cost the VM's worker in the last
// minute, with the next one's (about what the last one cost), stays within
// `maxOverheadPct` of what the budget allows in a minute. So a guest that was
// quiet gets its checkpoint a moment after it settles even if the last one was
// recent, and the share shown (over the last minute) never passes the cap.

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
    failures: 0,
    runningSinceMs: nowMs,
    costs: [],
  };
}

/** The most worker time (ms) checkpoints may take in a window: `maxOverheadPct` of the budget's. */
const capOf = (p: CheckpointPolicy, budgetPct: number) =>
  (p.maxOverheadPct / 100) * (Math.max(1, budgetPct) / 100) * OVERHEAD_WINDOW_MS;

/**
 * The earliest the next checkpoint may start, by cost alone: once the last minute's
 * checkpoints and the next (costing about what the last did) fit under the cap, as
 * the oldest leave the window; and while nobody takes them, not before a back-off.
 */
export function earliestByCost(s: PacingState, p: CheckpointPolicy, budgetPct: number): number {
  if (s.lastStartMs === null) return -Infinity;
  const backoff = s.failures > 0 ? s.lastStartMs + Math.min(MAX_BACKOFF_MS, 500 * 2 ** s.failures) : 0;
  const cap = capOf(p, budgetPct);
  let spent = s.costs.reduce((sum, c) => sum + c.costMs, 0);
  let at = s.lastStartMs;
  for (const c of s.costs) {
    if (spent + s.lastCostMs <= cap) break;
    spent -= c.costMs;
    at = c.atMs + OVERHEAD_WINDOW_MS; // from then on, this one is out of the window
  }
  return Math.max(backoff, at);
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
): void {
  s.lastCostMs = o.costMs;
  s.costs.push({ atMs: o.startMs, costMs: o.costMs });
  while (s.costs.length > 0 && s.costs[0]!.atMs <= o.startMs - OVERHEAD_WINDOW_MS) s.costs.shift();
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
    .filter((c) => c.atMs > nowMs - OVERHEAD_WINDOW_MS)
    .reduce((sum, c) => sum + c.costMs, 0);
  return (100 * spent) / (OVERHEAD_WINDOW_MS * (Math.max(1, budgetPct) / 100));
}
