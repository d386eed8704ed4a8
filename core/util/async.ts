// Promise helpers. Each timer made here is cleared as soon as the race is decided.
import { type Clock, systemClock } from "./clock.ts";

export class TimeoutError extends Error {}

/** Rejects with a TimeoutError if `promise` has not settled after `ms` on `clock`. */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  clock: Clock = systemClock,
): Promise<T> {
  let cancel = () => {};
  const timeout = new Promise<never>((_, reject) => {
    cancel = clock.after(ms, () => reject(new TimeoutError(`${what} took longer than ${ms / 1000} s`)));
  });
  return Promise.race([promise, timeout]).finally(cancel);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
