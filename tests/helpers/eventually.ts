// Waiting in tests: on an observable condition (real clock) or on async work to
// drain. Tests never sleep for a fixed time and hope; they wait for the thing
// they are about to assert, or drive time with a ManualClock (see
// core/util/clock.ts `runUntil`) and let real async work (WebCrypto, I/O)
// finish between steps with `flushAsync`.

export interface EventuallyOptions {
  /** Give up (throw) after this long. */
  timeoutMs?: number;
  /** How often to look again. */
  intervalMs?: number;
}

/**
 * Resolves as soon as `condition` holds; throws `timed out: <what>` when it does
 * not within `timeoutMs`. The condition may be async (e.g. reading verified
 * entries); it is never evaluated twice at once.
 */
export async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  options: EventuallyOptions = {},
): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 10 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Lets pending async work run: promise callbacks, and I/O callbacks such as
 * WebCrypto results from Node's thread pool, `rounds` macrotask turns deep.
 */
export async function flushAsync(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Resolves the first time `emitter`-style `on(event)` fires with arguments matching `match`. */
export function nextEvent<A extends unknown[]>(
  on: (handler: (...args: A) => void) => () => void,
  match: (...args: A) => boolean = () => true,
): Promise<A> {
  return new Promise((resolve) => {
    const off = on((...args) => {
      if (!match(...args)) return;
      off();
      resolve(args);
    });
  });
}
