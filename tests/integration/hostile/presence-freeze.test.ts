// Attack 4: freezing another peer's presence. A peer of the room broadcasts
// presence for the victim: through y-protocols awareness, the victim's client id
// with its clock at 2^53 (so the victim's later updates look old), and on the
// presence channel, newer-looking entries for the victim's address that the
// victim never signed. The victim's later presence (it starts contributing)
// must still reach the others.
import * as encoding from "lib0/encoding";
import { afterEach, describe, expect, it } from "vitest";
import { createIdentity } from "../../../core/crypto/identity.ts";
import { signEntry } from "../../../core/crypto/signed.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../../core/net/memory-transport.ts";
import { peerAddress } from "../../../core/net/peer-address.ts";
import { PeerNode } from "../../../core/peer/peer-node.ts";
import { PRESENCE_KIND } from "../../../core/state/presence.ts";
import { systemClock } from "../../../core/util/clock.ts";
import { eventually } from "../../helpers/eventually.ts";

/** The channels as a hostile peer addresses them: by number, whatever this build calls them. */
const AWARENESS_CHANNEL = { name: "yjs-awareness", id: 1, version: 1 };
const PRESENCE_CHANNEL = { name: "presence", id: 16, version: 1 };

interface TestPeer {
  node: PeerNode;
  contributing: boolean;
}

const peers: TestPeer[] = [];
afterEach(() => {
  for (const p of peers.splice(0)) p.node.stop();
});

async function addPeer(hub: MemorySignalingHub, network: MemoryNetwork): Promise<TestPeer> {
  const identity = await createIdentity();
  const info = { peer: peerAddress(identity.peerId, "s1"), publicKey: identity.publicKey };
  const peer: TestPeer = { node: null as unknown as PeerNode, contributing: false };
  peer.node = new PeerNode({
    identity,
    signaling: hub.connect(info),
    linkFactory: network.factory(info.peer),
    clock: systemClock,
    mesh: { targetDegree: 4, maxDegree: 4, maintainIntervalMs: 200 },
    presenceIntervalMs: 500,
    presence: () => ({
      name: "",
      appVersion: "test",
      capacity: { contributing: peer.contributing, cores: 1, memoryMiB: 0, budgetPct: 0, slots: 1 },
      load: { vms: 0, usedPct: 0 },
    }),
  });
  peers.push(peer);
  peer.node.start();
  return peer;
}

/** The y-protocols awareness of a node, for as long as nodes have one. */
const awarenessOf = (p: TestPeer) =>
  (
    p.node as unknown as {
      awareness?: { getStates(): Map<number, unknown>; meta: Map<number, { clock: number }> };
    }
  ).awareness;

const presenceAt = async (reader: TestPeer, of: TestPeer) =>
  (await reader.node.peers()).find((v) => v.peer === of.node.self)?.presence ?? null;

describe("hostile: freezing another peer's presence", () => {
  it("presence claimed for the victim by another peer does not hold back the victim's own", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const owner = await addPeer(hub, network);
    const victim = await addPeer(hub, network);
    const mallory = await addPeer(hub, network);
    for (const reader of [owner, mallory]) {
      await eventually(
        "the victim's presence is seen",
        async () => (await presenceAt(reader, victim)) !== null,
      );
    }
    const heard = (await presenceAt(mallory, victim))!;

    // Through awareness: the victim's own last state, under its client id, at a clock nobody can pass.
    const clientId = victim.node.doc.clientID;
    const genuine = awarenessOf(mallory)?.getStates().get(clientId);
    const update = encoding.createEncoder();
    encoding.writeVarUint(update, 1);
    encoding.writeVarUint(update, clientId);
    encoding.writeVarUint(update, 2 ** 53);
    encoding.writeVarString(update, JSON.stringify(genuine ?? { presence: heard }));
    const awareness = mallory.node.mesh.channel(AWARENESS_CHANNEL);
    // On the presence channel: entries for the victim's address, far in the future, that Mallory signed.
    const forged = await signEntry(mallory.node.identity, PRESENCE_KIND, {
      ...heard,
      at: Number.MAX_SAFE_INTEGER,
    });
    const presence = mallory.node.mesh.channel(PRESENCE_CHANNEL);
    const attack = () => {
      awareness.broadcast(encoding.toUint8Array(update));
      presence.broadcast(new TextEncoder().encode(JSON.stringify([forged])));
    };
    attack();
    // Where awareness still exists, wait until the owner took the frozen clock.
    await eventually("the attack reached the owner", () => {
      const meta = awarenessOf(owner)?.meta.get(clientId);
      return meta === undefined || meta.clock >= 2 ** 53;
    });

    victim.contributing = true;
    await victim.node.publishPresence();
    attack(); // and again, after the victim spoke
    await eventually(
      "the victim's contributing reaches the owner",
      async () => (await presenceAt(owner, victim))?.capacity.contributing === true,
      { timeoutMs: 5000 },
    );
    await eventually(
      "and mallory",
      async () => (await presenceAt(mallory, victim))?.capacity.contributing === true,
      { timeoutMs: 5000 },
    );
    expect((await presenceAt(owner, victim))?.at).toBeLessThan(Number.MAX_SAFE_INTEGER);
  });
});
