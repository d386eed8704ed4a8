// The governor's measurements: how much busy and wall time passed since the last
// look (BusySampler), and the totals and recent average reported (UsageAverage).
import type { Clock } from "../util/clock.ts";

export interface BusySource {
  /** Monotonic milliseconds the emulator has spent emulating. */
  busyMs(): number;
}

export interface UsageStep {
  busyMs: number;
  wallMs: number;
}

/** Busy and wall time since the previous sample (busy never more than wall). */
export class BusySampler {
  private lastAtMs = 0;
  private lastBusyMs = 0;

  constructor(
    private readonly source: BusySource,
    private readonly clock: Clock,
  ) {}

  /** Starts measuring from now, forgetting the time since the last sample. */
  restart(): void {
    this.lastAtMs = this.clock.nowMs();
    this.lastBusyMs = this.source.busyMs();
  }

  /** The time since the last sample, or null when no wall time passed. */
  sample(): UsageStep | null {
    const now = this.clock.nowMs();
    const busyNow = this.source.busyMs();
    const wallMs = Math.max(0, now - this.lastAtMs);
    const busyMs = Math.max(0, Math.min(wallMs, busyNow - this.lastBusyMs));
    this.lastAtMs = now;
    this.lastBusyMs = busyNow;
    return wallMs <= 0 ? null : { busyMs, wallMs };
  }
}

/** Busy and wall totals, and an exponential average of the share of a core used. */
export class UsageAverage {
  private totalBusyMs = 0;
  private totalWallMs = 0;
  private avgUsed = 0;
  private avgWeight = 0;

  constructor(
    /** Time constant of the average. */
    private readonly windowMs: number,
  ) {}

  get busyMs(): number {
    return this.totalBusyMs;
  }

  get wallMs(): number {
    return this.totalWallMs;
  }

  /** Share of one core used recently, in percent. */
  get usedPct(): number {
    return this.avgWeight > 0 ? (this.avgUsed / this.avgWeight) * 100 : 0;
  }

  add(busyMs: number, wallMs: number): void {
    this.totalBusyMs += busyMs;
    this.totalWallMs += wallMs;
    // Bias correction (avgWeight), so early reports are not pulled toward 0.
    const weight = 1 - Math.exp(-wallMs / this.windowMs);
    this.avgUsed += (busyMs / wallMs - this.avgUsed) * weight;
    this.avgWeight += (1 - this.avgWeight) * weight;
  }
}
