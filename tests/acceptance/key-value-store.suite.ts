// What every KeyValueStore does, whatever keeps the values: the browser's
// IndexedDB store and the in-memory twin tests use both run this suite, so the
// twin cannot drift from what IndexedDB does (values are structured clones,
// keys come back in key order).
import { describe, expect, it } from "vitest";
import type { KeyValueStore } from "../../core/state/storage.ts";

/** `create` makes a fresh, empty store for each test. */
export function describeKeyValueStore(name: string, create: () => KeyValueStore | Promise<KeyValueStore>) {
  describe(`KeyValueStore: ${name}`, () => {
    it("gives undefined for a key never set, and lists no keys when empty", async () => {
      const store = await create();
      expect(await store.get("missing")).toBeUndefined();
      expect(await store.keys()).toEqual([]);
    });

    it("round-trips plain data", async () => {
      const store = await create();
      const value = {
        n: 1.5,
        s: "ü",
        b: true,
        z: null,
        list: [1, "two", { three: 3 }],
        nested: { deep: [[]] },
      };
      await store.set("v", value);
      expect(await store.get("v")).toEqual(value);
      await store.set("text", "hello");
      await store.set("zero", 0);
      expect(await store.get("text")).toBe("hello");
      expect(await store.get("zero")).toBe(0);
    });

    it("round-trips bytes as a Uint8Array, alone and inside objects", async () => {
      const store = await create();
      const bytes = new Uint8Array([0, 1, 2, 254, 255]);
      await store.set("bytes", bytes);
      await store.set("record", { seq: 3, sealed: bytes });
      const back = await store.get("bytes");
      expect(back).toBeInstanceOf(Uint8Array);
      expect([...(back as Uint8Array)]).toEqual([0, 1, 2, 254, 255]);
      const record = (await store.get("record")) as { seq: number; sealed: Uint8Array };
      expect(record.sealed).toBeInstanceOf(Uint8Array);
      expect([...record.sealed]).toEqual([0, 1, 2, 254, 255]);
    });

    it("round-trips what structured clone keeps: dates, maps, undefined fields", async () => {
      const store = await create();
      const value = { at: new Date(1_700_000_000_000), m: new Map([["a", 1]]), u: undefined };
      await store.set("v", value);
      const back = (await store.get("v")) as typeof value;
      expect(back.at).toBeInstanceOf(Date);
      expect(back.at.getTime()).toBe(1_700_000_000_000);
      expect(back.m).toBeInstanceOf(Map);
      expect(back.m.get("a")).toBe(1);
      expect("u" in back).toBe(true);
    });

    it("hands back a copy: changing what get returned does not change the store", async () => {
      const store = await create();
      await store.set("list", [{ seq: 1, sealed: new Uint8Array([7, 7]) }]);
      const first = (await store.get("list")) as { seq: number; sealed: Uint8Array }[];
      first[0]!.seq = 99;
      first[0]!.sealed[0] = 0;
      first.push({ seq: 2, sealed: new Uint8Array() });
      const again = (await store.get("list")) as { seq: number; sealed: Uint8Array }[];
      expect(again).not.toBe(first);
      expect(again).toHaveLength(1);
      expect(again[0]!.seq).toBe(1);
      expect([...again[0]!.sealed]).toEqual([7, 7]);
    });

    it("keeps a copy: changing a value after set does not change the store", async () => {
      const store = await create();
      const value = { count: 1, bytes: new Uint8Array([1]) };
      await store.set("v", value);
      value.count = 2;
      value.bytes[0] = 9;
      expect(await store.get("v")).toEqual({ count: 1, bytes: new Uint8Array([1]) });
    });

    it("refuses a value structured clone cannot copy", async () => {
      const store = await create();
      await expect(store.set("f", { f: () => 1 })).rejects.toThrow();
      expect(await store.get("f")).toBeUndefined();
    });

    it("replaces a value set again under the same key", async () => {
      const store = await create();
      await store.set("k", { a: 1 });
      await store.set("k", [2]);
      expect(await store.get("k")).toEqual([2]);
      expect(await store.keys()).toEqual(["k"]);
    });

    it("deletes, and deleting a missing key is fine", async () => {
      const store = await create();
      await store.set("a", 1);
      await store.set("b", 2);
      await store.delete("a");
      await store.delete("never-set");
      expect(await store.get("a")).toBeUndefined();
      expect(await store.get("b")).toBe(2);
      expect(await store.keys()).toEqual(["b"]);
    });

    it("lists keys in key order, not the order they were set", async () => {
      const store = await create();
      for (const key of ["replica/b", "Z", "replica-index", "a", "replica/a/2/10", "replica/a/2/9"])
        await store.set(key, key.length);
      expect(await store.keys()).toEqual([
        "Z",
        "a",
        "replica-index",
        "replica/a/2/10",
        "replica/a/2/9",
        "replica/b",
      ]);
    });
  });
}
