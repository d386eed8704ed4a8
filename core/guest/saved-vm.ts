// A VM saved on this device: its compressed state and what its console showed.
import type { KeyValueStore } from "../state/storage.ts";

export interface SavedVm {
  schema: 1;
  imageId: string;
  v86Version: string;
  savedAtMs: number;
  /** gzip-compressed v86 state */
  state: ArrayBuffer;
  rawBytes: number;
  transcript: string;
}

const CURRENT_KEY = "local-vm";
const UNRESTORABLE_KEY = "local-vm-unrestorable";

function parseSavedVm(value: unknown): SavedVm | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (
    v.schema !== 1 ||
    typeof v.imageId !== "string" ||
    typeof v.v86Version !== "string" ||
    typeof v.savedAtMs !== "number" ||
    !(v.state instanceof ArrayBuffer) ||
    typeof v.rawBytes !== "number" ||
    typeof v.transcript !== "string"
  ) {
    return null;
  }
  return v as unknown as SavedVm;
}

export class SavedVmStore {
  constructor(private readonly store: KeyValueStore) {}

  async load(): Promise<SavedVm | null> {
    return parseSavedVm(await this.store.get(CURRENT_KEY));
  }

  save(vm: SavedVm): Promise<void> {
    return this.store.set(CURRENT_KEY, vm);
  }

  clear(): Promise<void> {
    return this.store.delete(CURRENT_KEY);
  }

  /** Keeps a state that would not restore, so it is never lost silently; the user can download it. */
  async setAside(vm: SavedVm): Promise<void> {
    await this.store.set(UNRESTORABLE_KEY, vm);
    await this.store.delete(CURRENT_KEY);
  }

  async setAsideCopy(): Promise<SavedVm | null> {
    return parseSavedVm(await this.store.get(UNRESTORABLE_KEY));
  }
}
