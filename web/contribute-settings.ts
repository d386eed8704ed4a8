// What this tab offers when it contributes, kept with the other settings.

import type { KeyValueStore } from "../core/state/storage.ts";
import type { HostSettings } from "../core/vm/host-runtime.ts";

export interface ContributeSettings extends HostSettings {
  contributing: boolean;
}

const KEY = "contribute-settings";

export function defaultContributeSettings(): ContributeSettings {
  const deviceMiB = ((navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 4) * 1024;
  return {
    contributing: false,
    slots: 2,
    memoryMiB: Math.max(256, Math.min(1024, Math.round(deviceMiB / 4))),
    budgetPct: 50,
    checkpointIntervalMs: 15_000,
  };
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
  };
}

export function saveContributeSettings(store: KeyValueStore, settings: ContributeSettings): Promise<void> {
  return store.set(KEY, settings);
}
