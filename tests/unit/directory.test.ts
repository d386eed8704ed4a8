// The directory over the per-author store. There is no repair to make any more:
// a profile sits in its own peer's slot, which only that peer's signature can
// change. These tests keep what the repair tests asserted (what a reader shows
// as Alice's name) against the attacks the repairs answered: an overwrite by
// another peer, a replay of an older profile, a deletion.
import { describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { type SignedEntry, signEntry } from "../../core/crypto/signed.ts";
import { AuthorStore } from "../../core/state/author-store.ts";
import { Directory, PROFILE_KIND, type Profile } from "../../core/state/directory.ts";
import { STATE_KIND } from "../../core/state/state-entry.ts";

/**
 * Stores that pass every entry they take on to the others at once, as the store
 * sync would; `settled()` resolves once nothing is left in flight.
 */
function linkedStores(...stores: AuthorStore[]) {
  const inFlight = new Set<Promise<unknown>>();
  for (const from of stores) {
    from.on("change", (slot, origin) => {
      for (const to of stores) {
        if (to === from || to === origin) continue;
        const p = to.apply(slot.entry, from).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    });
  }
  return {
    async settled(): Promise<void> {
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
  };
}

interface Peer {
  identity: Identity;
  store: AuthorStore;
  directory: Directory;
}

async function peer(identity?: Identity): Promise<Peer> {
  const id = identity ?? (await createIdentity());
  const store = new AuthorStore(id);
  return { identity: id, store, directory: new Directory(store, id) };
}

const nameAt = async (reader: Peer, of: Peer) =>
  (await reader.directory.profiles()).get(of.identity.peerId)?.payload.name;

describe("directory", () => {
  it("an entry in Mallory's slot under Alice's id never replaces Alice's profile at any reader", async () => {
    // Mallory's entries land before, while and after Alice's own write travels: one trial per point.
    for (let delayTicks = 0; delayTicks < 6; delayTicks++) {
      const [alice, mallory, bob] = [await peer(), await peer(), await peer()];
      const link = linkedStores(alice.store, mallory.store, bob.store);
      const aliceId = alice.identity.peerId;
      // A genuine signature, by Mallory's key, over a newer profile claiming Alice's id:
      // only the slot it sits in (Mallory's) and the signer check keep it out.
      const forged = await signEntry(mallory.identity, PROFILE_KIND, {
        peerId: aliceId,
        name: "mallory-as-alice",
        updatedAt: Date.now() + 1000,
      });
      const written = alice.directory.setName("alice");
      for (let i = 0; i < delayTicks; i++) await new Promise((r) => setImmediate(r));
      await mallory.store.put("profiles", aliceId, forged);
      await written;
      // And Alice's own genuine profile, copied into Mallory's slots: under Alice's id and under Mallory's.
      const copied = alice.store.get(aliceId, "profiles", aliceId) as SignedEntry<Profile>;
      await mallory.store.put("profiles", aliceId, copied);
      await mallory.store.put("profiles", mallory.identity.peerId, {
        ...copied,
        payload: { ...copied.payload },
      });
      await link.settled();
      for (const reader of [alice, mallory, bob]) {
        expect(await nameAt(reader, alice), `overwrite after ${delayTicks} ticks`).toBe("alice");
        expect((await reader.directory.profiles()).has(mallory.identity.peerId)).toBe(false);
        expect(reader.directory.stats.invalid).toBe(2);
      }
      expect((await alice.directory.ownProfile())?.name).toBe("alice");
      // Alice's own slot still holds her entry, not Mallory's, at every reader.
      for (const reader of [mallory, bob]) {
        expect(reader.store.get(aliceId, "profiles", aliceId)).toEqual(copied);
      }
    }
  });

  it("a replayed older profile of Alice loses to her newer one", async () => {
    const [alice, bob] = [await peer(), await peer()];
    const aliceId = alice.identity.peerId;
    await alice.directory.setName("first");
    const first = alice.store.entriesOf(aliceId).at(-1)!;
    await alice.directory.setName("second");
    const second = alice.store.entriesOf(aliceId).at(-1)!;
    expect(await bob.store.apply(second)).toBe("applied");
    expect(await bob.store.apply(first)).toBe("stale");
    expect(await nameAt(bob, alice)).toBe("second");
    // Arriving in the order written ends the same way.
    const carol = await peer();
    expect(await carol.store.apply(first)).toBe("applied");
    expect(await nameAt(carol, alice)).toBe("first");
    expect(await carol.store.apply(second)).toBe("applied");
    expect(await carol.store.apply(first)).toBe("stale");
    expect(await nameAt(carol, alice)).toBe("second");
    // Nor can a replay be dressed up as newer: raising its seq breaks Alice's signature.
    const raised = { ...first, payload: { ...first.payload, seq: second.payload.seq + 1 } };
    expect(await bob.store.apply(raised)).toBe("invalid");
    expect(await nameAt(bob, alice)).toBe("second");
  });

  it("adopts a newer entry of its own identity written by another tab, and keeps it", async () => {
    const alice = await createIdentity();
    const [a, b] = [await peer(alice), await peer(alice)];
    const link = linkedStores(a.store, b.store);
    await a.directory.setName("first");
    await link.settled();
    await b.directory.setName("second");
    await link.settled();
    expect((await a.directory.ownProfile())?.name).toBe("second");
    expect((await b.directory.ownProfile())?.name).toBe("second");
  });

  it("Alice's tombstone is only hers to write", async () => {
    const [alice, mallory, bob] = [await peer(), await peer(), await peer()];
    const link = linkedStores(alice.store, mallory.store, bob.store);
    const aliceId = alice.identity.peerId;
    await alice.directory.setName("alice");
    await link.settled();
    const named = alice.store.entriesOf(aliceId).at(-1)!;

    // Mallory "deletes" Alice's profile: a removal in her own slot, and one claimed for Alice's.
    await mallory.store.put("profiles", aliceId, null);
    const removal = await signEntry(mallory.identity, STATE_KIND, {
      space: "profiles",
      key: aliceId,
      seq: named.payload.seq + 1,
      value: null,
    });
    for (const reader of [alice, bob]) {
      expect(await reader.store.apply({ ...removal, publicKey: alice.identity.publicKey })).toBe("invalid");
    }
    await link.settled();
    for (const reader of [alice, mallory, bob]) expect(await nameAt(reader, alice)).toBe("alice");
    expect((await alice.directory.ownProfile())?.name).toBe("alice");

    // Alice removes her own: gone at every reader, and a replay of her profile does not bring it back.
    await alice.store.put("profiles", aliceId, null);
    await link.settled();
    for (const reader of [alice, mallory, bob]) {
      expect(await nameAt(reader, alice)).toBeUndefined();
      expect(await reader.store.apply(named)).toBe("stale");
      expect(await nameAt(reader, alice)).toBeUndefined();
    }
    expect(await alice.directory.ownProfile()).toBeNull();
  });
});
