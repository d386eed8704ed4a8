// The contributor's bandwidth cap on a fake clock: unlimited by default, and
// under a cap what is sent over time stays within it, in the order asked, with
// nothing lost; a frame larger than the burst still goes; totals count it all.
import { describe, expect, it } from "vitest";
import { BandwidthCap } from "../../core/net/bandwidth-cap.ts";
import { ManualClock } from "../../core/util/clock.ts";

function capped(kib: number | null) {
  const clock = new ManualClock();
  const setting = { kib };
  const cap = new BandwidthCap({ clock, capKiBps: () => setting.kib });
  return { clock, cap, setting };
}

describe("bandwidth cap", () => {
  it("lets everything through at once when unlimited, and counts it", async () => {
    const { cap } = capped(null);
    expect(cap.take(10_000_000)).toBe(true);
    expect(await cap.wait(5_000_000)).toBe(true);
    cap.noteIn(1234);
    expect(cap.totals()).toEqual({ inBytes: 1234, outBytes: 15_000_000, heldBytes: 0 });
  });

  it("holds a steady sender to the cap, in order, losing nothing", async () => {
    const { clock, cap } = capped(64); // 64 KiB/s
    const sent: number[] = [];
    const chunks = 40; // 40 x 16 KiB = 640 KiB: about 10 s at the cap
    const all = Array.from({ length: chunks }, (_, i) =>
      cap.wait(16 * 1024).then((ok) => {
        expect(ok).toBe(true);
        sent.push(i);
      }),
    );
    await clock.advance(5000);
    // After 5 s: the first burst (16 KiB) plus 5 s of 64 KiB/s, give or take a chunk.
    expect(sent.length).toBeGreaterThanOrEqual(20);
    expect(sent.length).toBeLessThanOrEqual(22);
    await clock.advance(6000);
    await Promise.all(all);
    expect(sent).toEqual(Array.from({ length: chunks }, (_, i) => i));
    expect(cap.totals().outBytes).toBe(chunks * 16 * 1024);
  });

  it("refuses a frame it cannot send now (take), and sends one larger than the burst once full", async () => {
    const { clock, cap } = capped(1); // 1 KiB/s: the burst is one frame
    expect(cap.take(1500)).toBe(true);
    expect(cap.take(1500)).toBe(false);
    expect(cap.totals().heldBytes).toBe(1500);
    await clock.advance(1500);
    // 64 KiB is far over the burst: it goes when the bucket is full, and the debt is paid by waiting.
    expect(cap.take(64 * 1024)).toBe(true);
    expect(cap.take(100)).toBe(false);
    await clock.advance(60_000);
    expect(cap.take(100)).toBe(false);
    await clock.advance(6_000);
    expect(cap.take(100)).toBe(true);
  });

  it("applies a changed setting at once, and disposing lets waiters go with false", async () => {
    const { clock, cap, setting } = capped(1);
    expect(await cap.wait(1500)).toBe(true);
    const waiting = cap.wait(1500);
    setting.kib = null;
    expect(cap.take(1_000_000)).toBe(false); // the waiter still goes first
    await clock.advance(2000);
    expect(await waiting).toBe(true);
    expect(cap.take(1_000_000)).toBe(true);
    setting.kib = 1;
    expect(cap.take(1500)).toBe(true);
    const held = cap.wait(1500);
    cap.dispose();
    expect(await held).toBe(false);
    expect(clock.pending).toBe(0);
  });
});
