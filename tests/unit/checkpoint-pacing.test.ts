// When a hosted VM's checkpoints are due: a moment after the guest settles, at
// least every few seconds while it keeps going, and never more than a tenth of
// its CPU budget, whatever a checkpoint costs.
import { describe, expect, it } from "vitest";
import {
  type CheckpointPolicy,
  newPacing,
  nextDueMs,
  noteActivity,
  noteEnd,
  noteStart,
  overheadPct,
  type PacingState,
} from "../../core/vm/checkpoint-pacing.ts";

const POLICY: CheckpointPolicy = {
  settleMs: 300,
  busyEveryMs: 5000,
  idleEveryMs: 15_000,
  maxOverheadPct: 10,
};

/** Runs a VM's pacing for `ms`: activity at each of `activityAt`, a checkpoint whenever one is due. */
function simulate(o: { ms: number; activityAt: number[]; costMs: number; budgetPct: number }) {
  const s: PacingState = newPacing(0);
  const starts: number[] = [];
  let maxOverheadPct = 0;
  const activity = [...o.activityAt].sort((a, b) => a - b);
  for (let t = 0; t <= o.ms; t += 10) {
    while (activity.length > 0 && activity[0]! <= t) noteActivity(s, activity.shift()!);
    if (nextDueMs(s, POLICY, o.budgetPct) <= t) {
      const dirty = noteStart(s, t);
      starts.push(t);
      noteEnd(s, { startMs: t, costMs: o.costMs, held: true, dirtyBefore: dirty });
    }
    maxOverheadPct = Math.max(maxOverheadPct, overheadPct(s, t, o.budgetPct));
  }
  return { s, starts, maxOverheadPct };
}

describe("checkpoint pacing", () => {
  it("checkpoints a moment after activity settles, not on the slow interval", () => {
    const { starts } = simulate({ ms: 10_000, activityAt: [2000, 2050, 2100], costMs: 100, budgetPct: 50 });
    expect(starts).toEqual([2400]);
  });

  it("keeps checkpointing at least every 5 s while the guest never pauses", () => {
    const busy = Array.from({ length: 2000 }, (_, i) => 1000 + i * 10); // 20 s of steady output
    const { starts } = simulate({ ms: 22_000, activityAt: busy, costMs: 50, budgetPct: 50 });
    expect(starts.length).toBeGreaterThanOrEqual(4);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(5000 + 10); // counted from the first byte after the last one
  });

  it("holds expensive checkpoints to 10 % of the VM's budget, and says what they took", () => {
    const busy = Array.from({ length: 12_000 }, (_, i) => i * 10); // two minutes of steady output
    const { s, starts, maxOverheadPct } = simulate({
      ms: 120_000,
      activityAt: busy,
      costMs: 400,
      budgetPct: 25,
    });
    // A quarter of a core for a minute is 15 s of CPU; a tenth of it is 1.5 s: three of these.
    expect(starts.filter((t) => t > 60_000).length).toBeLessThanOrEqual(3);
    expect(maxOverheadPct).toBeLessThanOrEqual(10);
    expect(overheadPct(s, 120_000, 25)).toBeGreaterThan(5);
  });

  it("a guest that was quiet gets its checkpoint a moment after it settles, even soon after the last", () => {
    // Expensive checkpoints (1 s each at a 50 % budget: three fit in a minute), and a
    // command every 5 s: the first three are saved at once, the fourth once the first
    // has left the minute.
    const { starts } = simulate({
      ms: 70_000,
      activityAt: [1000, 6000, 11_000, 16_000],
      costMs: 1000,
      budgetPct: 50,
    });
    expect(starts.slice(0, 3)).toEqual([1300, 6300, 11_300]);
    expect(starts[3]).toBe(1300 + 60_000);
  });

  it("on an idle guest, checkpoints only on the slow interval", () => {
    const { starts } = simulate({ ms: 31_000, activityAt: [], costMs: 100, budgetPct: 50 });
    expect(starts).toEqual([15_000, 30_000]);
  });

  it("a checkpoint nobody took leaves the work unsaved, and the next tries back off", () => {
    const s = newPacing(0);
    noteActivity(s, 1000);
    const due = nextDueMs(s, POLICY, 50);
    expect(due).toBe(1300);
    const dirty = noteStart(s, due);
    noteEnd(s, { startMs: due, costMs: 10, held: false, dirtyBefore: dirty });
    expect(s.dirtySinceMs).toBe(1000);
    const retry = nextDueMs(s, POLICY, 50);
    expect(retry).toBeGreaterThan(due + 500);
    noteStart(s, retry);
    noteEnd(s, { startMs: retry, costMs: 10, held: false, dirtyBefore: 1000 });
    expect(nextDueMs(s, POLICY, 50) - retry).toBeGreaterThan(retry - due);
  });
});
