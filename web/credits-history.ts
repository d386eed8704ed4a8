// Credit over time, for the chart: a point whenever the figures change (and at
// most one a minute while they stay put), kept on this device, bounded.
import type { KeyValueStore } from "../core/state/storage.ts";

export interface CreditPoint {
  atMs: number;
  balanceMilli: number;
  earnedMilli: number;
  spentMilli: number;
}

const KEY = "credits-history";
const MAX_POINTS = 2000;
const QUIET_POINT_MS = 60_000;

const isPoint = (v: unknown): v is CreditPoint =>
  typeof v === "object" &&
  v !== null &&
  ["atMs", "balanceMilli", "earnedMilli", "spentMilli"].every((k) =>
    Number.isFinite((v as Record<string, unknown>)[k]),
  );

export class CreditHistory {
  private points: CreditPoint[] = [];

  constructor(private readonly store: KeyValueStore) {}

  async load(): Promise<void> {
    const saved = await this.store.get(KEY);
    if (Array.isArray(saved)) this.points = saved.filter(isPoint).slice(-MAX_POINTS);
  }

  all(): readonly CreditPoint[] {
    return this.points;
  }

  /** Adds `p` if it differs from the last point, or the last is a minute old; true if added. */
  add(p: CreditPoint): boolean {
    const last = this.points.at(-1);
    const same =
      last &&
      last.balanceMilli === p.balanceMilli &&
      last.earnedMilli === p.earnedMilli &&
      last.spentMilli === p.spentMilli;
    if (last && (p.atMs <= last.atMs || (same && p.atMs - last.atMs < QUIET_POINT_MS))) return false;
    this.points.push(p);
    if (this.points.length > MAX_POINTS) this.points.splice(0, this.points.length - MAX_POINTS);
    void this.store.set(KEY, this.points);
    return true;
  }
}
