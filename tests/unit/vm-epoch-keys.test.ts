// Each epoch's VM key is derived from the VM's master key: distinct per epoch
// and per VM, and the owner can rebuild any of them from the master alone.
import { describe, expect, it } from "vitest";
import { createVmKey, exportVmKey, seal, unseal } from "../../core/crypto/vm-crypto.ts";
import { MemoryStore } from "../../core/state/storage.ts";
import { VmKeys } from "../../core/vm/vm-keys.ts";

describe("VM keys per epoch", () => {
  it("one epoch's key does not open another epoch's seal; a fresh VmKeys rebuilds the same key", async () => {
    const store = new MemoryStore();
    const vmId = "a".repeat(32);
    await store.set(vmId, await exportVmKey(await createVmKey()));
    const keys = new VmKeys(store);
    const k1 = (await keys.forEpoch(vmId, 1))!;
    const k2 = (await keys.forEpoch(vmId, 2))!;
    const sealed = await seal(k2, new Uint8Array([1, 2, 3]), "ctx");
    await expect(unseal(k1, sealed, "ctx")).rejects.toThrow(/does not open/);
    const again = (await new VmKeys(store).forEpoch(vmId, 2))!;
    expect(await unseal(again, sealed, "ctx")).toEqual(new Uint8Array([1, 2, 3]));
    expect(await exportVmKey(k1)).not.toBe(await exportVmKey(k2));
  });

  it("has no key for a VM whose master this device does not hold", async () => {
    const keys = new VmKeys(new MemoryStore());
    expect(await keys.forEpoch("b".repeat(32), 1)).toBeNull();
  });
});
