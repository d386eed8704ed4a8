// The unit of account. One credit is 10^9 guest instructions executed by a
// host for a lease (the emulator's own counter); amounts travel and are summed
// as whole milli-credits (10^6 instructions), so they stay exact safe integers
// (2^53 milli-credits is about 9 * 10^12 credits).
//
// A reference speed bounds what one lease can honestly use: no host runs a
// guest faster than MAX_INSTRUCTIONS_PER_S (v86 runs about 3 * 10^8 a second
// on the machines we measured; the bound leaves room for faster ones), so a
// receipt may claim at most that times the lease's wall time.

export const INSTRUCTIONS_PER_CREDIT = 1e9;
export const INSTRUCTIONS_PER_MILLI = INSTRUCTIONS_PER_CREDIT / 1000;

/** The fastest a guest can run on any host, in instructions a second. */
export const MAX_INSTRUCTIONS_PER_S = 2e9;

/** The most milli-credits a lease can have used in `elapsedMs` of wall time. */
export function maxMilliFor(elapsedMs: number): number {
  if (!(elapsedMs > 0)) return 0;
  return Math.floor((MAX_INSTRUCTIONS_PER_S / INSTRUCTIONS_PER_MILLI) * (elapsedMs / 1000));
}

/** Whole milli-credits in `instructions` (a 64-bit counter, as a bigint or a safe number). */
export function milliOfInstructions(instructions: bigint | number): number {
  const n = typeof instructions === "bigint" ? instructions : BigInt(Math.max(0, Math.floor(instructions)));
  return Number(n / BigInt(INSTRUCTIONS_PER_MILLI));
}

/** "12.345 credits", for people. */
export function formatCredits(milli: number): string {
  const sign = milli < 0 ? "−" : "";
  const abs = Math.abs(milli);
  return `${sign}${Math.floor(abs / 1000)}.${String(abs % 1000).padStart(3, "0")} credits`;
}
