// Attack 3: wedging every reader with one small entry. A peer of the room writes
// entries whose payloads pass the readers' field checks but hold a BigInt or
// thousands of levels of nesting, which the canonical encoding under the
// signature check cannot take. Every honest reader must drop just those entries
// and go on: profiles, leases and the directory's own repairs keep working.
import { afterEach, describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../../core/crypto/identity.ts";
import { signEntry } from "../../../core/crypto/signed.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../../core/net/memory-transport.ts";
import { peerAddress } from "../../../core/net/peer-address.ts";
import { PeerNode } from "../../../core/peer/peer-node.ts";
import { PROFILE_KIND } from "../../../core/state/directory.ts";
import { LEASE_KIND, leaseKey, VmBook } from "../../../core/state/vm-records.ts";
import { systemClock } from "../../../core/util/clock.ts";
import { eventually } from "../../helpers/eventually.ts";

const nodes: PeerNode[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.stop();
});

async function addPeer(hub: MemorySignalingHub, network: MemoryNetwork): Promise<PeerNode> {
  const identity = await createIdentity();
  const info = { peer: peerAddress(identity.peerId, "s1"), publicKey: identity.publicKey };
  const node = new PeerNode({
    identity,
    signaling: hub.connect(info),
    linkFactory: network.factory(info.peer),
    clock: systemClock,
    mesh: { targetDegree: 4, maxDegree: 4, maintainIntervalMs: 200 },
    presenceIntervalMs: 500,
    presence: () => ({
      name: "",
      appVersion: "test",
      capacity: { contributing: false, cores: 1, memoryMiB: 0, budgetPct: 0, slots: 0 },
      load: { vms: 0, usedPct: 0 },
    }),
  });
  nodes.push(node);
  node.start();
  return node;
}

/** Nested arrays `depth` levels deep. */
function deep(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** An entry that looks like `identity`'s profile and carries `extra` inside its payload. */
function poisonedProfile(identity: Identity, extra: unknown) {
  return {
    kind: PROFILE_KIND,
    payload: { peerId: identity.peerId, name: "mallory", updatedAt: Date.now(), extra },
    publicKey: identity.publicKey,
    signature: "A".repeat(86),
  };
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
  return { alice, bob, mallory };
}

describe("hostile: one malformed entry wedges every reader", () => {
  it("a BigInt or deep nesting in a payload is dropped; profiles and leases still read", async () => {
    const { alice, bob, mallory } = await trio();
    // A genuine lease, signed by its owner, for a VM of Alice's.
    const vmId = "a".repeat(32);
    const lease = await signEntry(alice.identity, LEASE_KIND, {
      vmId,
      epoch: 1,
      host: alice.self,
      issuedAt: Date.now(),
      previous: null,
      replicas: [],
    });
    alice.doc.getMap("leases").set(leaseKey(vmId, 1), lease);

    // Mallory's poison: payloads the field checks accept, which the signed encoding cannot take.
    mallory.doc.transact(() => {
      const profiles = mallory.doc.getMap("profiles");
      profiles.set(mallory.identity.peerId, poisonedProfile(mallory.identity, 10n));
      profiles.set("c".repeat(32), poisonedProfile(mallory.identity, deep(4000)));
      const leases = mallory.doc.getMap("leases");
      leases.set(leaseKey(vmId, 2), {
        kind: LEASE_KIND,
        payload: {
          vmId,
          epoch: 2,
          host: mallory.self,
          issuedAt: 1,
          previous: "0".repeat(64),
          replicas: [],
          extra: 10n,
        },
        publicKey: alice.identity.publicKey,
        signature: "A".repeat(86),
      });
      leases.set(leaseKey(vmId, 3), {
        kind: LEASE_KIND,
        payload: {
          vmId,
          epoch: 3,
          host: mallory.self,
          issuedAt: 1,
          previous: "0".repeat(64),
          replicas: [],
          extra: deep(4000),
        },
        publicKey: alice.identity.publicKey,
        signature: "A".repeat(86),
      });
    });
    await eventually("the poison reached bob and alice", () =>
      [bob, alice].every((p) => p.doc.getMap("leases").has(leaseKey(vmId, 3))),
    );

    for (const reader of [alice, bob]) {
      const profiles = await reader.directory.profiles();
      expect(profiles.get(alice.identity.peerId)?.payload.name).toBe("alice");
      expect(profiles.get(bob.identity.peerId)?.payload.name).toBe("bob");
      expect(profiles.has(mallory.identity.peerId)).toBe(false);
      expect(profiles.has("c".repeat(32))).toBe(false);
      const book = new VmBook(reader.doc);
      const current = await book.currentLease(vmId, alice.identity.peerId);
      expect(current?.lease.epoch).toBe(1);
      expect(await book.leasesOf(vmId, alice.identity.peerId)).toHaveLength(1);
    }
  });

  it("after a malformed entry under its id, a peer still repairs its entry", async () => {
    const { alice, bob, mallory } = await trio();
    // First the poison under Alice's own id (her check of it fails), then a forgery.
    let sawPoison = false;
    const map = alice.directory.map;
    map.observe(() => {
      if ((map.get(alice.identity.peerId) as { payload?: { extra?: unknown } })?.payload?.extra === 10n)
        sawPoison = true;
    });
    mallory.directory.map.set(alice.identity.peerId, poisonedProfile(alice.identity, 10n));
    await eventually("alice saw the poison", () => sawPoison);
    const forged = await signEntry(mallory.identity, PROFILE_KIND, {
      peerId: alice.identity.peerId,
      name: "mallory-as-alice",
      updatedAt: Date.now() + 1000,
    });
    mallory.directory.map.set(alice.identity.peerId, forged);
    await eventually("alice's entry is repaired at bob", async () => {
      return (await bob.directory.profiles()).get(alice.identity.peerId)?.payload.name === "alice";
    });
    await eventually("and at mallory", async () => {
      return (await mallory.directory.profiles()).get(alice.identity.peerId)?.payload.name === "alice";
    });
  });
});
