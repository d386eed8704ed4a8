import { describe, expect, it } from "vitest";
import { type DeviceSignals, effectiveBudgetPct, PressurePolicy } from "../../core/cpu/pressure.ts";

const calm: DeviceSignals = { pressure: "nominal", battery: { charging: true, level: 1 }, longTasks: 0 };

describe("PressurePolicy", () => {
  it("uses the whole budget on a calm device", () => {
    const p = new PressurePolicy();
    expect(p.update(calm, 0)).toBe(1);
    expect(p.update({ pressure: null, battery: null, longTasks: 0 }, 1000)).toBe(1);
  });

  it("backs off at once as pressure rises", () => {
    const p = new PressurePolicy();
    expect(p.update({ ...calm, pressure: "fair" }, 0)).toBe(1);
    expect(p.update({ ...calm, pressure: "serious" }, 100)).toBe(0.5);
    expect(p.update({ ...calm, pressure: "critical" }, 200)).toBe(0.25);
    expect(effectiveBudgetPct(50, p.current())).toBe(13);
  });

  it("comes back up only after a calm spell, one step at a time (hysteresis)", () => {
    const p = new PressurePolicy({ recoverAfterMs: 10_000, stepUp: 0.25 });
    const empty = { ...calm, battery: { charging: false, level: 0.05 } };
    p.update(empty, 0);
    expect(p.update(calm, 1000)).toBe(0);
    expect(p.update(calm, 10_999)).toBe(0);
    expect(p.update(calm, 11_000)).toBe(0.25);
    expect(p.update(calm, 15_000)).toBe(0.25);
    expect(p.update(calm, 21_000)).toBe(0.5);
    // A blip of pressure restarts the wait.
    expect(p.update({ ...calm, pressure: "serious" }, 22_000)).toBe(0.5);
    expect(p.update(calm, 25_000)).toBe(0.5);
    expect(p.update(calm, 35_000)).toBe(0.75);
    expect(p.update(calm, 45_000)).toBe(1);
  });

  it("halves on a low battery and pauses on an almost empty one, unless charging", () => {
    const p = new PressurePolicy();
    expect(p.update({ ...calm, battery: { charging: false, level: 0.3 } }, 0)).toBe(0.5);
    expect(p.update({ ...calm, battery: { charging: false, level: 0.1 } }, 1)).toBe(0);
    const q = new PressurePolicy();
    expect(q.update({ ...calm, battery: { charging: true, level: 0.1 } }, 0)).toBe(1);
  });

  it("yields to the page's own main thread when it keeps missing frames", () => {
    const p = new PressurePolicy();
    expect(p.update({ ...calm, longTasks: 3 }, 0)).toBe(0.5);
    expect(p.update({ ...calm, longTasks: 8 }, 1)).toBe(0.25);
  });
});
