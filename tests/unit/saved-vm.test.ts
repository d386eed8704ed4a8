import { describe, expect, it } from "vitest";
import { type SavedVm, SavedVmStore } from "../../core/guest/saved-vm.ts";
import { MemoryStore } from "../../core/state/storage.ts";

const delta: SavedVm = {
  schema: 2,
  imageId: "image-1",
  v86Version: "0.5.462",
  savedAtMs: 1000,
  encoding: "delta-gzip",
  baseSha256: "ab".repeat(32),
  state: new Uint8Array([1, 2, 3]).buffer,
  rawBytes: 4096,
  transcript: "root@spare:~# ",
};

describe("SavedVmStore", () => {
  it("keeps a delta save and reads it back", async () => {
    const saved = new SavedVmStore(new MemoryStore());
    await saved.save(delta);
    expect(await saved.load()).toEqual(delta);
  });

  it("still reads a whole-state save from before deltas (schema 1)", async () => {
    const store = new MemoryStore();
    const { encoding, baseSha256, ...rest } = delta;
    await store.set("local-vm", { ...rest, schema: 1 });
    expect(await new SavedVmStore(store).load()).toEqual({ ...delta, encoding: "gzip", baseSha256: null });
  });

  it("reads nothing from a record that is not a saved VM, rather than failing later", async () => {
    const store = new MemoryStore();
    const saved = new SavedVmStore(store);
    for (const bad of [
      null,
      "local-vm",
      { ...delta, schema: 3 },
      { ...delta, encoding: "zstd" },
      { ...delta, baseSha256: null }, // a delta must name its base
      { ...delta, encoding: "gzip" }, // a whole state has none
      { ...delta, state: "AAEC" },
    ]) {
      await store.set("local-vm", bad);
      expect(await saved.load()).toBeNull();
    }
  });

  it("a write that fails leaves the previous save readable", async () => {
    const store = new MemoryStore();
    const saved = new SavedVmStore(store);
    await saved.save(delta);
    store.set = async () => {
      throw new Error("QuotaExceededError");
    };
    await expect(saved.save({ ...delta, savedAtMs: 2000 })).rejects.toThrow("QuotaExceededError");
    expect((await saved.load())?.savedAtMs).toBe(1000);
  });
});
