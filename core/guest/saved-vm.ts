// A VM saved on this device: its compressed state and what its console showed.
//
// A save replaces the previous one in a single write (one IndexedDB transaction
// in the browser): a save that cannot finish (the tab closed, the disk full)
// leaves the previous save as it was, never half of each.
import type { KeyValueStore } from "../state/storage.ts";

export type SavedEncoding = "gzip" | "delta-gzip";

export interface SavedVm {
  schema: 2;
  imageId: string;
  v86Version: string;
  savedAtMs: number;
  /**
   * "gzip": the whole v86 state, gzipped. "delta-gzip": a delta against the
   * image's state (core/guest/state-delta.ts), gzipped; restoring it needs that
   * state, the one with SHA-256 `baseSha256`.
   */
  encoding: SavedEncoding;
  baseSha256: string | null;
  state: ArrayBuffer;
  rawBytes: number;
  transcript: string;
}

const CURRENT_KEY = "local-vm";
const UNRESTORABLE_KEY = "local-vm-unrestorable";

/** A stored record as a SavedVm (schema 1, whole gzipped states, is still read); null when it is not one. */
function parseSavedVm(value: unknown): SavedVm | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (
    (v.schema !== 1 && v.schema !== 2) ||
    typeof v.imageId !== "string" ||
    typeof v.v86Version !== "string" ||
    typeof v.savedAtMs !== "number" ||
    !(v.state instanceof ArrayBuffer) ||
    typeof v.rawBytes !== "number" ||
    typeof v.transcript !== "string"
  ) {
    return null;
  }
  const encoding: unknown = v.schema === 1 ? "gzip" : v.encoding;
  const baseSha256: unknown = v.schema === 1 ? null : v.baseSha256;
  if (encoding !== "gzip" && encoding !== "delta-gzip") return null;
  if (encoding === "delta-gzip" ? typeof baseSha256 !== "string" : baseSha256 !== null) return null;
  return {
    schema: 2,
    imageId: v.imageId,
    v86Version: v.v86Version,
    savedAtMs: v.savedAtMs,
    encoding,
    baseSha256: baseSha256 as string | null,
    state: v.state,
    rawBytes: v.rawBytes,
    transcript: v.transcript,
  };
}

export class SavedVmStore {
  constructor(private readonly store: KeyValueStore) {}

  async load(): Promise<SavedVm | null> {
    return parseSavedVm(await this.store.get(CURRENT_KEY));
  }

  /** Replaces the saved VM in one write: if it fails, the previous save is still there. */
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
