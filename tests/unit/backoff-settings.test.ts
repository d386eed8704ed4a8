import { beforeAll, describe, expect, it } from "vitest";
import type { KeyValueStore } from "../../core/state/storage.ts";

// contribute-settings.ts reads navigator.deviceMemory for its defaults.
beforeAll(() => {
  if (!("navigator" in globalThis))
    Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true });
});

function storeWith(value: unknown): KeyValueStore {
  const data = new Map<string, unknown>([["contribute-settings", value]]);
  return {
    get: async (k: string) => data.get(k),
    set: async (k: string, v: unknown) => void data.set(k, v),
  } as unknown as KeyValueStore;
}

describe("the hold-back settings as stored", () => {
  it("keep what was saved, and the restart level above the stop level", async () => {
    const { loadContributeSettings } = await import("../../web/contribute-settings.ts");
    const s = await loadContributeSettings(
      storeWith({
        batteryStopPct: 40,
        batteryResumePct: 60,
        onlyWhenIdle: true,
        allowedHours: { fromHour: 22, toHour: 7 },
      }),
    );
    expect(s).toMatchObject({
      batteryStopPct: 40,
      batteryResumePct: 60,
      onlyWhenIdle: true,
      allowedHours: { fromHour: 22, toHour: 7 },
    });
    const inverted = await loadContributeSettings(storeWith({ batteryStopPct: 50, batteryResumePct: 20 }));
    expect(inverted.batteryResumePct).toBeGreaterThan(inverted.batteryStopPct);
  });

  it("turn nonsense (from an old version or a tampered store) into the defaults, never into a crash", async () => {
    const { loadContributeSettings } = await import("../../web/contribute-settings.ts");
    for (const bad of [
      null,
      "x",
      {
        batteryStopPct: "20",
        batteryResumePct: Number.NaN,
        onlyWhenIdle: "yes",
        allowedHours: { fromHour: 25, toHour: -1 },
      },
      { allowedHours: { fromHour: 3, toHour: 3 } },
      { allowedHours: { fromHour: 1.5, toHour: 4 } },
      { allowedHours: [] },
    ]) {
      const s = await loadContributeSettings(storeWith(bad));
      expect(s.batteryStopPct).toBe(20);
      expect(s.batteryResumePct).toBe(30);
      expect(s.onlyWhenIdle).toBe(false);
      expect(s.allowedHours).toBeNull();
    }
  });
});
