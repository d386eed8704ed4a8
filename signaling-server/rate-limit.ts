// A token bucket per socket, and what happens to a socket over its limit: its
// extra messages are dropped (told so at most once a second), and a socket that
// keeps flooding is closed. No timers, and no object of its own: the bucket
// lives in five integer fields of the socket it limits (with ten thousand
// sockets, every object and boxed number per socket shows in the memory).

export interface RateLimitConfig {
  messagesPerSecond: number;
  burst: number;
}

/** A token bucket's state. Tokens are counted in thousandths, so all of it stays in small integers. */
export interface TokenBucket {
  milliTokens: number;
  refilledAt: number;
  windowStart: number;
  droppedInWindow: number;
  toldAt: number;
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

/** A full bucket at `now` (integer ms). */
export function fillBucket(bucket: TokenBucket, config: RateLimitConfig, now: number): void {
  bucket.milliTokens = config.burst * 1000;
  bucket.refilledAt = now;
  bucket.windowStart = now;
  bucket.droppedInWindow = 0;
  bucket.toldAt = now - 1000;
}

/** Spends a token for one inbound message at `now` (integer ms). */
export function takeToken(bucket: TokenBucket, config: RateLimitConfig, now: number): RateVerdict {
  const full = config.burst * 1000;
  if (bucket.milliTokens < full) {
    bucket.milliTokens = Math.min(
      full,
      bucket.milliTokens + (now - bucket.refilledAt) * config.messagesPerSecond,
    );
  }
  bucket.refilledAt = now;
  if (bucket.milliTokens >= 1000) {
    bucket.milliTokens -= 1000;
    return "ok";
  }
  if (now - bucket.windowStart >= 1000) {
    bucket.windowStart = now;
    bucket.droppedInWindow = 0;
  }
  bucket.droppedInWindow += 1;
  if (bucket.droppedInWindow > config.burst) return "flood";
  if (now - bucket.toldAt >= 1000) {
    bucket.toldAt = now;
    return "drop-and-tell";
  }
  return "drop";
}
