// A token bucket per socket, and what happens to a socket over its limit: its
// extra messages are dropped (told so at most once a second), and a socket that
// keeps flooding is closed. Two numbers and three counters per socket, no timers.

export interface RateLimitConfig {
  messagesPerSecond: number;
  burst: number;
}

export type RateVerdict =
  /** Take the message. */
  | "ok"
  /** Drop it and tell the sender (this happens at most once per second). */
  | "drop-and-tell"
  /** Drop it silently. */
  | "drop"
  /** More than `burst` messages dropped within a second: close the socket. */
  | "flood";

export class RateLimiter {
  private tokens: number;
  private refilledAt: number;
  private windowStart = 0;
  private droppedInWindow = 0;
  private toldAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly config: RateLimitConfig,
    now: number,
  ) {
    this.tokens = config.burst;
    this.refilledAt = now;
  }

  /** Spends a token for one inbound message at `now` (ms). */
  take(now: number): RateVerdict {
    const { messagesPerSecond, burst } = this.config;
    if (this.tokens < burst) {
      this.tokens = Math.min(burst, this.tokens + ((now - this.refilledAt) * messagesPerSecond) / 1000);
    }
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return "ok";
    }
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.droppedInWindow = 0;
    }
    this.droppedInWindow += 1;
    if (this.droppedInWindow > burst) return "flood";
    if (now - this.toldAt >= 1000) {
      this.toldAt = now;
      return "drop-and-tell";
    }
    return "drop";
  }
}
