// What the Contribute page says of the bandwidth this contributor gives its
// hosted VMs (web answers, VM-to-VM frames): the rate in and out over the last
// few seconds, from the bandwidth cap's running totals, and the cap itself.
import type { BandwidthTotals } from "../core/net/bandwidth-cap.ts";
import { formatBytes } from "../core/util/format.ts";

/** The rate is measured over this window. */
const WINDOW_MS = 5000;

interface Sample {
  atMs: number;
  totals: BandwidthTotals;
}

export interface BandwidthRates {
  inBytesPerS: number;
  outBytesPerS: number;
  /** Whether anything had to wait for the cap in the window. */
  held: boolean;
}

/** Rates from samples of the running totals (one each render; the last few seconds are kept). */
export class BandwidthRateMeter {
  private samples: Sample[] = [];

  sample(atMs: number, totals: BandwidthTotals): BandwidthRates {
    this.samples.push({ atMs, totals });
    while (this.samples.length > 2 && this.samples[1]!.atMs <= atMs - WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const seconds = (atMs - first.atMs) / 1000;
    if (seconds <= 0) return { inBytesPerS: 0, outBytesPerS: 0, held: false };
    return {
      inBytesPerS: Math.max(0, totals.inBytes - first.totals.inBytes) / seconds,
      outBytesPerS: Math.max(0, totals.outBytes - first.totals.outBytes) / seconds,
      held: totals.heldBytes > first.totals.heldBytes,
    };
  }
}

const perS = (bytesPerS: number) => `${formatBytes(Math.round(bytesPerS))}/s`;

export function bandwidthText(
  rates: BandwidthRates,
  totals: BandwidthTotals,
  capKiBps: number | null,
): string {
  const cap =
    capKiBps === null
      ? "no cap"
      : `capped at ${capKiBps} KiB/s${rates.held ? ", answers are being slowed to it" : ""}`;
  return (
    `Bandwidth given to hosted VMs: ${perS(rates.inBytesPerS)} in, ${perS(rates.outBytesPerS)} out` +
    ` (${formatBytes(totals.inBytes)} in, ${formatBytes(totals.outBytes)} out since this tab opened; ${cap}).`
  );
}
