// A token bucket on an injected clock: `ratePerS` tokens a second, at most
// `burst` saved up. What a peer may send or make us send is bounded by it.

export class TokenBucket {
  private tokens: number;
  private atMs: number;

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    private readonly nowMs: () => number,
  ) {
    this.tokens = burst;
    this.atMs = nowMs();
  }

  private refill(): void {
    const now = this.nowMs();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.atMs) / 1000) * this.ratePerS);
    this.atMs = now;
  }

  /** Takes `n` tokens if there are that many; false (and takes none) if not. */
  take(n: number): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** How long until `n` tokens are there (0 if they are now). */
  waitMs(n: number): number {
    this.refill();
    return this.tokens >= n ? 0 : Math.ceil(((Math.min(n, this.burst) - this.tokens) / this.ratePerS) * 1000);
  }
}
