// What this tab offers when it contributes, kept with the other settings.

import { DEFAULT_GATES, type GateSettings } from "../core/cpu/device-gates.ts";
import type { KeyValueStore } from "../core/state/storage.ts";
import type { HostSettings } from "../core/vm/host-runtime.ts";

/** What this tab offers, and when it holds back (battery, idle only, allowed hours). */
export interface ContributeSettings extends HostSettings, GateSettings {
  contributing: boolean;
}

const KEY = "contribute-settings";

export function defaultContributeSettings(): ContributeSettings {
  const nav = globalThis.navigator as (Navigator & { deviceMemory?: number }) | undefined;
  const deviceMiB = (nav?.deviceMemory ?? 4) * 1024;
  return {
    contributing: false,
    slots: 2,
    memoryMiB: Math.max(256, Math.min(1024, Math.round(deviceMiB / 4))),
    budgetPct: 50,
    checkpointIntervalMs: 15_000,
    // A stranger's traffic would leave from this person's address: only if they say so.
    outboundAllowed: false,
    bandwidthCapKiBps: null,
    ...DEFAULT_GATES,
  };
}

/** The most a bandwidth cap may say, in KiB/s (10 GiB/s: past any connection). */
export const MAX_BANDWIDTH_CAP_KIBPS = 10 * 1024 * 1024;

/** A bandwidth cap from what was stored or typed: a whole number of KiB/s, or null (unlimited). */
export function parseBandwidthCap(v: unknown): number | null {
  const n = typeof v === "string" ? (v.trim() === "" ? Number.NaN : Number(v)) : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 1) return null;
  return Math.min(MAX_BANDWIDTH_CAP_KIBPS, Math.round(n));
}

/** Allowed hours from what was stored: two different whole hours 0..23, else any time. */
export function parseAllowedHours(v: unknown): GateSettings["allowedHours"] {
  if (typeof v !== "object" || v === null) return null;
  const { fromHour, toHour } = v as Record<string, unknown>;
  const hour = (h: unknown) => typeof h === "number" && Number.isInteger(h) && h >= 0 && h <= 23;
  return hour(fromHour) && hour(toHour) && fromHour !== toHour
    ? { fromHour: fromHour as number, toHour: toHour as number }
    : null;
}

export async function loadContributeSettings(store: KeyValueStore): Promise<ContributeSettings> {
  const saved = (await store.get(KEY)) as Partial<ContributeSettings> | undefined;
  const d = defaultContributeSettings();
  const num = (v: unknown, min: number, max: number, fallback: number) =>
    typeof v === "number" && Number.isFinite(v) ? Math.min(max, Math.max(min, Math.round(v))) : fallback;
  return {
    contributing: saved?.contributing === true,
    slots: num(saved?.slots, 1, 16, d.slots),
    memoryMiB: num(saved?.memoryMiB, 128, 65536, d.memoryMiB),
    budgetPct: num(saved?.budgetPct, 5, 100, d.budgetPct),
    checkpointIntervalMs: num(saved?.checkpointIntervalMs, 2000, 600_000, d.checkpointIntervalMs),
    outboundAllowed: saved?.outboundAllowed === true,
    bandwidthCapKiBps: parseBandwidthCap(saved?.bandwidthCapKiBps),
    ...batteryLevels(num(saved?.batteryStopPct, 0, 95, d.batteryStopPct), saved?.batteryResumePct),
    onlyWhenIdle: saved?.onlyWhenIdle === true,
    allowedHours: parseAllowedHours(saved?.allowedHours),
  };
}

/** The battery levels, the restart level always above the stop level (or the hysteresis is gone). */
export function batteryLevels(
  stopPct: number,
  resumePct: unknown,
): Pick<GateSettings, "batteryStopPct" | "batteryResumePct"> {
  const resume =
    typeof resumePct === "number" && Number.isFinite(resumePct) ? Math.round(resumePct) : stopPct + 10;
  return { batteryStopPct: stopPct, batteryResumePct: Math.min(100, Math.max(stopPct + 5, resume)) };
}

export function saveContributeSettings(store: KeyValueStore, settings: ContributeSettings): Promise<void> {
  return store.set(KEY, settings);
}
