import { describe, expect, it } from "vitest";
import { Backoff, type BackoffSignals, effectiveBudgetPct } from "../../core/cpu/backoff.ts";
import { DEFAULT_GATES, type GateSettings } from "../../core/cpu/device-gates.ts";
import type { PressureState } from "../../core/cpu/load-backoff.ts";

const NOON = 12 * 60;
const calm: BackoffSignals = {
  pressure: "nominal",
  longTasks: 0,
  battery: null,
  idle: null,
  localMinutes: NOON,
};

/** Drives a Backoff with a fake clock, one update per `tickMs` (as the page's monitor does). */
class Drive {
  readonly backoff = new Backoff();
  nowMs = 0;
  changes = 0;
  private lastShare = 1;

  constructor(private readonly settings: GateSettings = DEFAULT_GATES) {}

  run(signals: Partial<BackoffSignals>, forMs: number, tickMs = 1000): number {
    const end = this.nowMs + forMs;
    for (; this.nowMs < end; this.nowMs += tickMs) this.step(signals);
    return this.backoff.current().share;
  }

  step(signals: Partial<BackoffSignals>) {
    const d = this.backoff.update({ ...calm, ...signals }, this.settings, this.nowMs);
    if (d.share !== this.lastShare) this.changes++;
    this.lastShare = d.share;
    return d;
  }
}

describe("the adaptive governor's control loop", () => {
  it("uses the whole budget on a calm device, and says so", () => {
    const d = new Drive();
    expect(d.run({}, 60_000)).toBe(1);
    expect(d.run({ pressure: "fair" }, 60_000)).toBe(1);
    expect(d.run({ pressure: null }, 10_000)).toBe(1);
    expect(d.backoff.current().reason).toBe("running at 100 %");
    expect(d.changes).toBe(0);
  });

  it("cuts the share at once when pressure turns critical, and pauses within 3 s if it lasts", () => {
    const d = new Drive();
    d.run({}, 5000);
    expect(d.step({ pressure: "critical" }).share).toBeLessThanOrEqual(0.25);
    const cutAt = d.nowMs;
    while (d.backoff.current().share > 0 && d.nowMs - cutAt < 60_000) {
      d.nowMs += 250;
      d.step({ pressure: "critical" });
    }
    expect(d.nowMs - cutAt).toBeLessThanOrEqual(3000);
    expect(d.backoff.current()).toEqual({ share: 0, paused: true, reason: "paused: system busy" });
  });

  it("backs off more slowly but just as deeply on serious pressure (not stuck at a floor)", () => {
    const d = new Drive();
    expect(d.step({ pressure: "serious" }).share).toBe(0.5);
    expect(d.run({ pressure: "serious" }, 5000)).toBeGreaterThan(0.1);
    expect(d.run({ pressure: "serious" }, 25_000)).toBe(0);
  });

  it("says which share it runs at and why, while cut and while recovering", () => {
    const d = new Drive();
    d.run({ pressure: "serious" }, 2100);
    expect(d.backoff.current().reason).toMatch(/^running at \d+ %: system busy$/);
    d.run({ longTasks: 8 }, 1000);
    expect(d.backoff.current().reason).toMatch(/: this page is busy$/);
    d.run({}, 1000);
    expect(d.backoff.current().reason).toMatch(/: this page is busy a moment ago, recovering$/);
  });

  it("recovers gradually after a calm hold, not at once", () => {
    const d = new Drive();
    d.run({ pressure: "critical" }, 5000);
    expect(d.backoff.current().share).toBe(0);
    const shares: number[] = [];
    for (let s = 0; s < 60; s++) shares.push(d.run({}, 1000));
    expect(shares.slice(0, 9).every((s) => s === 0)).toBe(true); // the hold: 10 s of calm first
    expect(shares.at(-1)).toBe(1);
    // Never more than one step of 0.1 at a time, and never down while calm.
    for (let i = 1; i < shares.length; i++) {
      expect(shares[i]! - shares[i - 1]!).toBeLessThanOrEqual(0.1 + 1e-9);
      expect(shares[i]!).toBeGreaterThanOrEqual(shares[i - 1]!);
    }
  });

  it("does not flap around a threshold: an oscillating input makes a bounded number of changes", () => {
    for (const periodMs of [2000, 8000, 30_000, 120_000]) {
      const d = new Drive();
      const hourMs = 3600_000;
      while (d.nowMs < hourMs) {
        const phase = Math.floor(d.nowMs / (periodMs / 2)) % 2;
        const pressure: PressureState = phase === 0 ? "fair" : "serious";
        d.run({ pressure }, 1000);
      }
      // An hour of pressure going serious and back every period: a few dozen changes at most,
      // not one per half-period (which would be up to 3600 for the 2 s period).
      expect(d.changes, `period ${periodMs} ms`).toBeLessThanOrEqual(80);
    }
  });

  it("doubles the calm it needs after a relapse, and forgets it after a long calm", () => {
    const d = new Drive();
    d.run({ pressure: "critical" }, 4000);
    d.run({}, 12_000); // the hold (10 s) passed: the share starts rising
    expect(d.backoff.current().share).toBeGreaterThan(0);
    d.run({ pressure: "critical" }, 4000); // relapse
    d.run({}, 15_000);
    expect(d.backoff.current().share).toBe(0); // now it needs 20 s of calm
    d.run({}, 6000);
    expect(d.backoff.current().share).toBeGreaterThan(0);
    d.run({}, 120_000);
    expect(d.backoff.current().share).toBe(1);
    d.run({ pressure: "critical" }, 4000);
    d.run({}, 11_000);
    expect(d.backoff.current().share).toBeGreaterThan(0); // back to a 10 s hold
  });

  it("yields to the page's own long tasks", () => {
    const d = new Drive();
    expect(d.step({ longTasks: 3 }).share).toBe(0.5);
    expect(d.step({ longTasks: 8 }).share).toBe(0.25);
  });
});

describe("battery, idle and hours rules", () => {
  const on = (level: number, charging = false) => ({ battery: { level, charging } });

  it("pauses below the stop level unless charging, and resumes only at the higher restart level", () => {
    const d = new Drive({ ...DEFAULT_GATES, batteryStopPct: 20, batteryResumePct: 30 });
    expect(d.step(on(0.25)).share).toBe(1);
    expect(d.step(on(0.18))).toEqual({
      share: 0,
      paused: true,
      reason: "paused: battery 18 %, resumes at 30 %",
    });
    // Hysteresis: creeping back over the stop level does not resume.
    for (const level of [0.2, 0.21, 0.19, 0.22, 0.29]) expect(d.step(on(level)).share).toBe(0);
    expect(d.step(on(0.3)).share).toBe(1);
    expect(d.step(on(0.25)).share).toBe(1);
    // Charging runs even when low.
    expect(d.step(on(0.1, true)).share).toBe(1);
    expect(d.step(on(0.1, false)).share).toBe(0);
    expect(d.step(on(0.12, true)).share).toBe(1);
  });

  it("a battery level oscillating around the stop level makes one pause and one resume per real recharge", () => {
    const d = new Drive({ ...DEFAULT_GATES, batteryStopPct: 20, batteryResumePct: 30 });
    for (let i = 0; i < 100; i++) d.step(on(i % 2 ? 0.19 : 0.21));
    expect(d.changes).toBe(1);
  });

  it("pauses while the device is in use when only idle time is offered", () => {
    const d = new Drive({ ...DEFAULT_GATES, onlyWhenIdle: true });
    expect(d.step({ idle: false })).toMatchObject({
      share: 0,
      reason: "paused: this device is in use (only while idle)",
    });
    expect(d.step({ idle: true }).share).toBe(1);
    const any = new Drive();
    expect(any.step({ idle: false }).share).toBe(1);
  });

  it("runs only within the allowed hours, across midnight too", () => {
    const d = new Drive({ ...DEFAULT_GATES, allowedHours: { fromHour: 22, toHour: 7 } });
    expect(d.step({ localMinutes: NOON })).toMatchObject({
      share: 0,
      reason: "paused: outside the allowed hours, resumes at 22:00",
    });
    expect(d.step({ localMinutes: 23 * 60 }).share).toBe(1);
    expect(d.step({ localMinutes: 3 * 60 }).share).toBe(1);
    expect(d.step({ localMinutes: 7 * 60 }).share).toBe(0);
  });

  it("turns a share into a budget: 0 holds the VM, a small share never rounds down to a hold", () => {
    expect(effectiveBudgetPct(50, 0.7)).toBe(35);
    expect(effectiveBudgetPct(5, 0.05)).toBe(1);
    expect(effectiveBudgetPct(50, 0)).toBe(0);
  });
});
