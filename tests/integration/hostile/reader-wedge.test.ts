// Attack 3: wedging every reader with one small entry. A peer of the room sends
// state entries whose payloads pass the readers' field checks but hold a number
// no JSON double can be (a 400-digit literal), a BigInt (handed straight to a
// store) or thousands of levels of nesting, which the canonical encoding under
// the signature check cannot take; and it puts nasty but signable values into
// its own slots, under other peers' ids. Every honest reader must drop just
// those entries (the store counts them) and go on: profiles and leases keep
// reading, and the victim's later writes still land.
import { afterEach, describe, expect, it } from "vitest";
import type { Identity } from "../../../core/crypto/identity.ts";
import { signEntry } from "../../../core/crypto/signed.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../../core/net/memory-transport.ts";
import type { PeerNode } from "../../../core/peer/peer-node.ts";
import { PROFILE_KIND } from "../../../core/state/directory.ts";
import { STATE_KIND } from "../../../core/state/state-entry.ts";
import { STATE_PROTOCOL } from "../../../core/state/store-sync.ts";
import { leaseSlot, VmBook } from "../../../core/state/vm-book.ts";
import { LEASE_KIND } from "../../../core/state/vm-records.ts";
import { eventually } from "../../helpers/eventually.ts";
import { memoryPeer } from "../../helpers/memory-peer.ts";

const nodes: PeerNode[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.stop();
});

async function addPeer(hub: MemorySignalingHub, network: MemoryNetwork): Promise<PeerNode> {
  const node = await memoryPeer(hub, network, {
    mesh: { targetDegree: 4, maxDegree: 4, maintainIntervalMs: 200 },
    presenceIntervalMs: 500,
  });
  nodes.push(node);
  node.start();
  return node;
}

/** JSON text of nested arrays `depth` levels deep (no need to build the value). */
const deepJson = (depth: number) => `${"[".repeat(depth)}0${"]".repeat(depth)}`;
/** Nested arrays `depth` levels deep, as a value. */
function deep(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}
/** An integer literal no double holds: JSON.parse reads it as Infinity. */
const HUGE = `1${"0".repeat(400)}`;
const BAD_SIGNATURE = "A".repeat(86);

/** A profile of `identity`'s that carries `extraJson` inside its payload, with a signature that is not one. */
const poisonedProfileJson = (identity: Identity, extraJson: string) =>
  `{"kind":"${PROFILE_KIND}","payload":{"peerId":"${identity.peerId}","name":"mallory","updatedAt":1,"extra":${extraJson}},"publicKey":"${identity.publicKey}","signature":"${BAD_SIGNATURE}"}`;

/** A state entry claimed by `author` for (space, key), its value given as JSON text. */
const stateEntryJson = (author: Identity, space: string, key: string, seq: string, valueJson: string) =>
  `{"kind":"${STATE_KIND}","payload":{"space":"${space}","key":"${key}","seq":${seq},"value":${valueJson}},"publicKey":"${author.publicKey}","signature":"${BAD_SIGNATURE}"}`;

/** Sends raw entries (JSON texts) to every peer Mallory is linked to, on the state channel. */
function sendRaw(mallory: PeerNode, entries: string[]): void {
  mallory.mesh
    .channel(STATE_PROTOCOL)
    .broadcast(new TextEncoder().encode(`{"t":"entries","e":[${entries.join(",")}]}`));
}

async function trio() {
  const hub = new MemorySignalingHub();
  const network = new MemoryNetwork();
  const alice = await addPeer(hub, network);
  const bob = await addPeer(hub, network);
  const mallory = await addPeer(hub, network);
  await alice.setName("alice");
  await bob.setName("bob");
  for (const reader of [bob, mallory]) {
    await eventually("alice's profile everywhere", async () => {
      return (await reader.directory.profiles()).get(alice.identity.peerId)?.payload.name === "alice";
    });
  }
  for (const reader of [alice, bob]) {
    await eventually("mallory links to alice and bob", () => mallory.mesh.isOpen(reader.self));
  }
  return { alice, bob, mallory };
}

describe("hostile: one malformed entry wedges every reader", () => {
  it("a huge number, a BigInt or deep nesting in a payload is dropped; profiles and leases still read", async () => {
    const { alice, bob, mallory } = await trio();
    // A genuine lease, signed by its owner, in the owner's slot for a VM of Alice's.
    const vmId = "a".repeat(32);
    const lease = await signEntry(alice.identity, LEASE_KIND, {
      vmId,
      epoch: 1,
      host: alice.self,
      issuedAt: Date.now(),
      previous: null,
      replicas: [],
    });
    await new VmBook(alice.store).publishLease(lease);
    for (const reader of [bob, mallory]) {
      await eventually("the lease everywhere", async () => {
        return (await new VmBook(reader.store).currentLease(vmId, alice.identity.peerId)) !== null;
      });
    }
    const invalidBefore = [alice.store.stats.invalid, bob.store.stats.invalid];

    // Mallory's poison over the wire: entries the field checks would take, that the signed
    // encoding cannot (Infinity, 4000 levels), in her own slots and claimed for Alice's.
    const leasePoison = (epoch: number, extraJson: string) =>
      `{"kind":"${LEASE_KIND}","payload":{"vmId":"${vmId}","epoch":${epoch},"host":"${mallory.self}","issuedAt":1,"previous":"${"0".repeat(64)}","replicas":[],"extra":${extraJson}},"publicKey":"${alice.identity.publicKey}","signature":"${BAD_SIGNATURE}"}`;
    const poison = [
      stateEntryJson(
        mallory.identity,
        "profiles",
        mallory.identity.peerId,
        "1",
        poisonedProfileJson(mallory.identity, HUGE),
      ),
      stateEntryJson(mallory.identity, "profiles", "c".repeat(32), "2", deepJson(4000)),
      stateEntryJson(mallory.identity, "profiles", "d".repeat(32), HUGE, '"x"'),
      stateEntryJson(alice.identity, "leases", leaseSlot(vmId, 2), "9", leasePoison(2, HUGE)),
      stateEntryJson(alice.identity, "leases", leaseSlot(vmId, 3), "10", leasePoison(3, deepJson(4000))),
    ];
    sendRaw(mallory, poison);
    await eventually("the poison reached alice and bob, and was counted", () =>
      [alice, bob].every((p, i) => p.store.stats.invalid >= invalidBefore[i]! + poison.length),
    );
    // And handed straight to a store, where nothing can serialize it: a BigInt.
    const bigint = {
      kind: STATE_KIND,
      payload: { space: "profiles", key: mallory.identity.peerId, seq: 3, value: { extra: 10n } },
      publicKey: mallory.identity.publicKey,
      signature: BAD_SIGNATURE,
    };
    for (const reader of [alice, bob]) {
      expect(await reader.store.apply(bigint, mallory.self)).toBe("invalid");
      expect(await reader.store.apply({ ...bigint, payload: { ...bigint.payload, seq: 10n } })).toBe(
        "invalid",
      );
      expect(await reader.store.apply({ ...bigint, payload: { ...bigint.payload, value: deep(4000) } })).toBe(
        "invalid",
      );
    }

    for (const reader of [alice, bob]) {
      const profiles = await reader.directory.profiles();
      expect(profiles.get(alice.identity.peerId)?.payload.name).toBe("alice");
      expect(profiles.get(bob.identity.peerId)?.payload.name).toBe("bob");
      expect(profiles.has(mallory.identity.peerId)).toBe(false);
      expect(profiles.has("c".repeat(32))).toBe(false);
      expect(reader.store.authors()).not.toContain(mallory.identity.peerId);
      const book = new VmBook(reader.store);
      const current = await book.currentLease(vmId, alice.identity.peerId);
      expect(current?.lease.epoch).toBe(1);
      expect(await book.leasesOf(vmId, alice.identity.peerId)).toHaveLength(1);
    }
  });

  it("nasty but signable values in Mallory's own slots are ignored; a poisoned id still takes its owner's writes", async () => {
    const { alice, bob, mallory } = await trio();
    const aliceId = alice.identity.peerId;
    const vmId = "b".repeat(32);
    // Under Alice's id, in Mallory's own slots: junk, a profile of Alice's with a signature that is
    // not one, a genuine signature by Mallory over a newer profile claiming Alice's id, and a lease
    // for a VM of Alice's. All signed by Mallory, so every store takes them as Mallory's.
    const forged = await signEntry(mallory.identity, PROFILE_KIND, {
      peerId: aliceId,
      name: "mallory-as-alice",
      updatedAt: Date.now() + 1000,
    });
    await mallory.store.put("profiles", aliceId, {
      kind: PROFILE_KIND,
      payload: { peerId: aliceId, name: "mallory", updatedAt: 1, extra: deep(20) },
      publicKey: alice.identity.publicKey,
      signature: BAD_SIGNATURE,
    });
    await mallory.store.put("profiles", aliceId, forged);
    await mallory.store.put("profiles", mallory.identity.peerId, { peerId: aliceId, name: 1e308 });
    await mallory.store.put("vms", vmId, "junk");
    await mallory.store.put(
      "leases",
      leaseSlot(vmId, 1),
      await signEntry(mallory.identity, LEASE_KIND, {
        vmId,
        epoch: 1,
        host: mallory.self,
        issuedAt: Date.now(),
        previous: null,
        replicas: [],
      }),
    );
    // Over the wire: entries claimed for Alice's own slot, one poisoned, one with a seq far
    // above hers, neither signed by her.
    sendRaw(mallory, [
      stateEntryJson(alice.identity, "profiles", aliceId, "5", poisonedProfileJson(alice.identity, HUGE)),
      stateEntryJson(
        alice.identity,
        "profiles",
        aliceId,
        String(Number.MAX_SAFE_INTEGER),
        JSON.stringify(forged),
      ),
    ]);
    await eventually("mallory's entries reached bob and alice", () =>
      [alice, bob].every(
        (p) => p.store.get(mallory.identity.peerId, "leases", leaseSlot(vmId, 1)) !== undefined,
      ),
    );
    await eventually("the forgeries claimed for alice were counted", () =>
      [alice, bob].every((p) => p.store.stats.invalid >= 2),
    );

    for (const reader of [alice, bob, mallory]) {
      const profiles = await reader.directory.profiles();
      expect(profiles.get(aliceId)?.payload.name).toBe("alice");
      expect(profiles.has(mallory.identity.peerId)).toBe(false);
      expect(reader.directory.stats.invalid).toBeGreaterThanOrEqual(2);
      const book = new VmBook(reader.store);
      expect(await book.vm(vmId)).toBeNull();
      expect(await book.leasesOf(vmId, aliceId)).toEqual([]);
    }
    expect((await alice.directory.ownProfile())?.name).toBe("alice");

    // Alice's slot is not wedged: her next write still lands everywhere.
    await alice.setName("alice-2");
    for (const reader of [bob, mallory]) {
      await eventually("alice's new name lands", async () => {
        return (await reader.directory.profiles()).get(aliceId)?.payload.name === "alice-2";
      });
    }
  });
});
