// A contributor's bandwidth for the VMs it hosts: everything the host sends for
// them (web answers, VM-to-VM frames) takes its bytes from one token bucket on
// the injected clock, at the rate the person allows (unlimited by default), and
// what goes in and out is counted for the Contribute page. Over the cap a sender
// either waits its turn (`wait`: an answer is slowed, never cut or reordered) or
// is told no (`take`: for traffic that may be dropped, like a LAN frame).
import type { Clock } from "../util/clock.ts";

export interface BandwidthTotals {
  /** Bytes received for hosted VMs (requests, frames), since this cap was made. */
  inBytes: number;
  /** Bytes sent for them. */
  outBytes: number;
  /** Bytes that had to wait for the cap (or were refused by it). */
  heldBytes: number;
}

export interface BandwidthCapOptions {
  clock: Clock;
  /** The cap in KiB/s; null, undefined or 0: unlimited. Read on each use, so a new setting applies at once. */
  capKiBps: () => number | null | undefined;
  /** How much may leave at once after a quiet spell, in ms of the cap's rate (default 250 ms). */
  burstMs?: number;
}

/** The smallest burst: one Ethernet frame always fits, however low the cap. */
const MIN_BURST_BYTES = 1514;

interface Waiter {
  bytes: number;
  resolve: (sent: boolean) => void;
}

export class BandwidthCap {
  /** Bytes that may go now; below zero after a send larger than the burst (a debt paid by waiting). */
  private tokens = 0;
  private atMs: number;
  /** The rate in force, in bytes/s (null: unlimited). */
  private rate: number | null = null;
  private readonly queue: Waiter[] = [];
  private cancelTimer: (() => void) | null = null;
  private readonly sums: BandwidthTotals = { inBytes: 0, outBytes: 0, heldBytes: 0 };
  private disposed = false;

  constructor(private readonly o: BandwidthCapOptions) {
    this.atMs = o.clock.nowMs();
    this.refill();
  }

  /** Counts bytes that arrived for a hosted VM (they are not limited: they already came). */
  noteIn(bytes: number): void {
    this.sums.inBytes += bytes;
  }

  /** Takes `bytes` from the budget if they may go now (and counts them as sent); false if not. */
  take(bytes: number): boolean {
    if (this.disposed) return false;
    if (this.queue.length > 0 || !this.fits(bytes)) {
      this.sums.heldBytes += bytes;
      return false;
    }
    this.spend(bytes);
    return true;
  }

  /**
   * Resolves true once `bytes` may go (taken from the budget, counted as sent),
   * in the order asked; false if the cap was disposed meanwhile.
   */
  wait(bytes: number): Promise<boolean> {
    if (this.disposed) return Promise.resolve(false);
    if (this.queue.length === 0 && this.fits(bytes)) {
      this.spend(bytes);
      return Promise.resolve(true);
    }
    this.sums.heldBytes += bytes;
    return new Promise((resolve) => {
      this.queue.push({ bytes, resolve });
      this.pump();
    });
  }

  totals(): BandwidthTotals {
    return { ...this.sums };
  }

  /** Ends the pending timer; senders still waiting get false. */
  dispose(): void {
    this.disposed = true;
    this.cancelTimer?.();
    this.cancelTimer = null;
    for (const w of this.queue.splice(0)) w.resolve(false);
  }

  private burst(): number {
    return this.rate === null
      ? Number.POSITIVE_INFINITY
      : Math.max(MIN_BURST_BYTES, (this.rate * (this.o.burstMs ?? 250)) / 1000);
  }

  /** Brings the bucket up to now, at the cap the setting says now. */
  private refill(): void {
    const now = this.o.clock.nowMs();
    const kib = this.o.capKiBps();
    const rate = typeof kib === "number" && Number.isFinite(kib) && kib > 0 ? kib * 1024 : null;
    if (rate !== this.rate) {
      // A new cap starts with a full burst (from unlimited) or keeps any debt.
      const fromUnlimited = this.rate === null;
      this.rate = rate;
      this.tokens = fromUnlimited ? this.burst() : Math.min(this.tokens, this.burst());
    } else if (rate !== null) {
      this.tokens = Math.min(this.burst(), this.tokens + ((now - this.atMs) / 1000) * rate);
    }
    this.atMs = now;
  }

  /** Whether `bytes` may go now: a send larger than the burst goes once the bucket is full. */
  private fits(bytes: number): boolean {
    this.refill();
    return this.rate === null || this.tokens >= Math.min(bytes, this.burst());
  }

  private spend(bytes: number): void {
    if (this.rate !== null) this.tokens -= bytes;
    this.sums.outBytes += bytes;
  }

  /** Lets the waiters at the front go while the budget allows, then sleeps until the next fits. */
  private pump(): void {
    if (this.cancelTimer || this.disposed) return;
    let next = this.queue[0];
    while (next && this.fits(next.bytes)) {
      this.queue.shift();
      this.spend(next.bytes);
      next.resolve(true);
      next = this.queue[0];
    }
    if (!next || this.rate === null) return;
    const needed = Math.min(next.bytes, this.burst()) - this.tokens;
    const ms = Math.max(1, Math.ceil((needed / this.rate) * 1000));
    this.cancelTimer = this.o.clock.after(ms, () => {
      this.cancelTimer = null;
      this.pump();
    });
  }
}
