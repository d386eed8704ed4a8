import { describe, expect, it } from "vitest";
import { createIdentity } from "../../core/crypto/identity.ts";
import { AuthorStore } from "../../core/state/author-store.ts";
import { MemoryStore } from "../../core/state/storage.ts";
import { StorePersistence } from "../../core/state/store-persistence.ts";

describe("store persistence", () => {
  it("brings the state back after a reload, newest values only, and a tampered copy costs only itself", async () => {
    const identity = await createIdentity();
    const disk = new MemoryStore();
    const before = new AuthorStore(identity);
    const kept = new StorePersistence(before, disk);
    await before.put("vms", "a", 1);
    await before.put("vms", "a", 2);
    await before.put("vms", "b", "bee");
    await before.put("profiles", identity.peerId, "me");
    await kept.flushed();
    kept.dispose();
    // Someone edits the disk: one value changed without a signature to match.
    const key = (await disk.keys()).find((k) => k.endsWith("/vms/b"))!;
    const entry = (await disk.get(key)) as { payload: { value: unknown } };
    entry.payload.value = "changed";
    await disk.set(key, entry);

    const after = new AuthorStore(identity);
    const loaded = new StorePersistence(after, disk);
    expect(await loaded.load()).toBe(2);
    expect(after.get(identity.peerId, "vms", "a")).toBe(2);
    expect(after.get(identity.peerId, "vms", "b")).toBeUndefined();
    expect(after.get(identity.peerId, "profiles", identity.peerId)).toBe("me");
    expect(after.stats.invalid).toBe(1);
    // A reloaded tab goes on above its old seq, so its next entry wins.
    expect((await after.put("vms", "a", 3)).payload.seq).toBe(5);
  });
});
