// The per-author store: only an author's signature changes its slots; replays
// lose; quotas and caps bound what anyone can make a peer hold; a malformed entry
// costs only itself.
import { describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { signEntry, verifierStats } from "../../core/crypto/signed.ts";
import { AuthorStore } from "../../core/state/author-store.ts";
import { STATE_KIND } from "../../core/state/state-entry.ts";

async function pair() {
  const alice = await createIdentity();
  const mallory = await createIdentity();
  return {
    alice,
    mallory,
    aliceStore: new AuthorStore(alice),
    reader: new AuthorStore(await createIdentity()),
  };
}

const entry = (who: Identity, key: string, seq: number, value: unknown, space = "profiles") =>
  signEntry(who, STATE_KIND, { space, key, seq, value });

describe("author store", () => {
  it("holds each entry in its signer's slot: nobody can write another's", async () => {
    const { alice, mallory, aliceStore, reader } = await pair();
    await reader.apply(await aliceStore.put("profiles", alice.peerId, "alice's"));
    // Mallory signs an entry for the same key, with a far higher seq: it lands in Mallory's slot.
    expect(await reader.apply(await entry(mallory, alice.peerId, 10 ** 9, "mallory's"))).toBe("applied");
    expect(reader.get(alice.peerId, "profiles", alice.peerId)).toBe("alice's");
    expect(reader.get(mallory.peerId, "profiles", alice.peerId)).toBe("mallory's");
    // An entry whose signature is not its key's is nobody's.
    const forged = { ...(await entry(mallory, alice.peerId, 5, "x")), publicKey: alice.publicKey };
    expect(await reader.apply(forged)).toBe("invalid");
    expect(reader.get(alice.peerId, "profiles", alice.peerId)).toBe("alice's");
  });

  it("keeps the newest entry of a slot: a replayed older one loses, and a removal stays removed", async () => {
    const { alice, aliceStore, reader } = await pair();
    const first = await aliceStore.put("vms", "v", { n: 1 });
    const second = await aliceStore.put("vms", "v", { n: 2 });
    const removed = await aliceStore.put("vms", "v", null);
    expect(await reader.apply(removed)).toBe("applied");
    expect(await reader.apply(second)).toBe("stale");
    expect(await reader.apply(first)).toBe("stale");
    expect(reader.get(alice.peerId, "vms", "v")).toBeNull();
    expect(reader.list("vms")).toEqual([]);
    expect(reader.stats).toMatchObject({ applied: 1, stale: 2 });
  });

  it("bounds what one author can make others hold, and counts what it refuses", async () => {
    const alice = await createIdentity();
    const mallory = await createIdentity();
    const reader = new AuthorStore(await createIdentity(), {
      maxEntriesPerAuthor: 3,
      maxBytesPerAuthor: 2000,
    });
    for (let i = 0; i < 5; i++) await reader.apply(await entry(mallory, `k${i}`, i + 1, "x"));
    expect(reader.usage(mallory.peerId).entries).toBe(3);
    // Bytes: one large value fits, the next does not.
    await reader.apply(await entry(mallory, "k0", 10, "y".repeat(1000)));
    expect(await reader.apply(await entry(mallory, "k1", 11, "z".repeat(1000)))).toBe("over-quota");
    expect(reader.usage(mallory.peerId).bytes).toBeLessThanOrEqual(2000);
    // Another author is untouched by Mallory's quota.
    expect(await reader.apply(await entry(alice, "a", 1, "fine"))).toBe("applied");
    expect(reader.stats.overQuota).toBe(3);
  });

  it("holds at most maxAuthors authors (Sybil identities are cheap)", async () => {
    const reader = new AuthorStore(await createIdentity(), { maxAuthors: 3 });
    const results: string[] = [];
    for (let i = 0; i < 5; i++)
      results.push(await reader.apply(await entry(await createIdentity(), "k", 1, i)));
    expect(results).toEqual(["applied", "applied", "applied", "over-quota", "over-quota"]);
    expect(reader.authors()).toHaveLength(3);
  });

  it("drops malformed entries without throwing", async () => {
    const { alice, reader } = await pair();
    let deep: unknown = "x";
    for (let i = 0; i < 4000; i++) deep = [deep];
    const good = await entry(alice, "k", 1, "ok");
    const bad: unknown[] = [
      null,
      "text",
      { ...good, kind: "vm/1" },
      { ...good, payload: { ...good.payload, space: "everything" } },
      { ...good, payload: { ...good.payload, seq: 0 } },
      { ...good, payload: { ...good.payload, value: 10n } },
      { ...good, payload: { ...good.payload, value: deep } },
      { ...good, signature: `${good.signature.slice(0, -1)}B` },
    ];
    for (const b of bad) expect(await reader.apply(b)).toBe("invalid");
    expect(reader.stats.invalid).toBe(bad.length);
    expect(await reader.apply(good)).toBe("applied");
  });

  it("tells a copy of a held entry without any signature work, and still checks an old one in full", async () => {
    const { alice, aliceStore, reader } = await pair();
    const old = await aliceStore.put("vms", "v", 1);
    const newer = await aliceStore.put("vms", "v", 2);
    expect(await reader.apply(newer)).toBe("applied");
    const checks = () => verifierStats.verified + verifierStats.cacheHits;
    const before = checks();
    for (let i = 0; i < 50; i++) expect(await reader.apply(newer)).toBe("stale");
    expect(checks()).toBe(before);
    expect(await reader.apply(old)).toBe("stale");
    expect(checks()).toBe(before + 1);
    // A newer entry for the slot is still checked in full (a forgery with a high seq is invalid).
    const forged = { ...(await entry(alice, "v", 99, "x", "vms")), signature: newer.signature };
    expect(await reader.apply(forged)).toBe("invalid");
    expect(reader.get(alice.peerId, "vms", "v")).toBe(2);
  });

  it("gives this peer's next entry a seq above all of its others, so it wins its slot", async () => {
    const alice = await createIdentity();
    const tabA = new AuthorStore(alice);
    const tabB = new AuthorStore(alice);
    for (let i = 0; i < 3; i++) await tabB.apply(await tabA.put("vms", `k${i}`, i));
    const fromB = await tabB.put("vms", "k0", "b");
    expect(fromB.payload.seq).toBe(4);
    expect(await tabA.apply(fromB)).toBe("applied");
    expect(tabA.get(alice.peerId, "vms", "k0")).toBe("b");
  });

  it("knows the length of each entry's JSON without encoding it (how sync sizes its batches)", async () => {
    const { alice, reader } = await pair();
    await reader.apply(await entry(alice, "a", 1, { z: "é€😀", a: [1, { y: null, b: true }] }, "vms"));
    const raw = await entry(alice, "b", 2, "plain", "vms");
    const { kind, payload: p, publicKey, signature } = raw; // members in another order than signed
    await reader.apply({
      signature,
      publicKey,
      payload: { value: p.value, seq: p.seq, key: p.key, space: p.space },
      kind,
    });
    const sized = reader.sizedEntriesOf(alice.peerId);
    expect(sized.map((s) => s.entry.payload.key)).toEqual(["a", "b"]);
    for (const s of sized) expect(s.chars).toBe(JSON.stringify(s.entry).length);
  });
});
