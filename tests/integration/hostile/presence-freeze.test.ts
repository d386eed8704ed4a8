// Attack 4: freezing another peer's presence. A peer of the room broadcasts
// presence for the victim's address on the presence channel, all of it at the
// latest time there is (`at` = 2^53 - 1, so the victim's later presence would
// look old): entries Mallory signed herself, a "gone" Mallory signed, the
// victim's own genuine entry with its `at` raised (so its signature no longer
// holds), and the victim's genuine entry replayed as it was. The victim's later
// presence (it starts contributing) must still reach the others.
import { afterEach, describe, expect, it } from "vitest";
import { createIdentity } from "../../../core/crypto/identity.ts";
import { type SignedEntry, signEntry } from "../../../core/crypto/signed.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../../core/net/memory-transport.ts";
import { peerAddress } from "../../../core/net/peer-address.ts";
import { PeerNode } from "../../../core/peer/peer-node.ts";
import { PRESENCE_KIND, type Presence } from "../../../core/state/presence.ts";
import { PRESENCE_GONE_KIND } from "../../../core/state/presence-board.ts";
import { systemClock } from "../../../core/util/clock.ts";
import { eventually } from "../../helpers/eventually.ts";

/** The channel as a hostile peer addresses it: by number, whatever this build calls it. */
const PRESENCE_CHANNEL = { name: "presence", id: 16, version: 1 };
const MAX_AT = Number.MAX_SAFE_INTEGER;

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

const presenceAt = async (reader: TestPeer, of: TestPeer) =>
  (await reader.node.peers()).find((v) => v.peer === of.node.self)?.presence ?? null;

describe("hostile: freezing another peer's presence", () => {
  it("presence claimed for the victim by another peer does not hold back the victim's own", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const owner = await addPeer(hub, network);
    const victim = await addPeer(hub, network);
    const mallory = await addPeer(hub, network);
    // Mallory keeps the victim's genuine signed presence as it passes her.
    const presence = mallory.node.mesh.channel(PRESENCE_CHANNEL);
    let genuine: SignedEntry<Presence> | null = null;
    presence.on("message", (_remote, payload) => {
      for (const item of JSON.parse(new TextDecoder().decode(payload)) as SignedEntry<Presence>[]) {
        if (item.kind === PRESENCE_KIND && item.payload.peer === victim.node.self) genuine ??= item;
      }
    });
    for (const reader of [owner, mallory]) {
      await eventually(
        "the victim's presence is seen",
        async () => (await presenceAt(reader, victim)) !== null,
      );
    }
    await eventually("mallory holds a signed presence of the victim's", () => genuine !== null);
    await eventually("mallory links to the owner", () => mallory.node.mesh.isOpen(owner.node.self));
    const heard = genuine!;
    // So that replaying it is a replay: the owner holds it, or a newer one, already.
    await eventually(
      "the owner holds the victim's presence of then, or newer",
      async () => ((await presenceAt(owner, victim))?.at ?? 0) >= heard.payload.at,
    );

    // Entries for the victim's address at the latest time there is, none of them the victim's word.
    const forged = await signEntry(mallory.node.identity, PRESENCE_KIND, { ...heard.payload, at: MAX_AT });
    const forgedGone = await signEntry(mallory.node.identity, PRESENCE_GONE_KIND, {
      peer: victim.node.self,
      at: MAX_AT,
    });
    const raised = { ...heard, payload: { ...heard.payload, at: MAX_AT } };
    const invalidBefore = owner.node.presenceBoard.stats.invalid;
    const oldBefore = owner.node.presenceBoard.stats.old;
    const attack = () =>
      presence.broadcast(new TextEncoder().encode(JSON.stringify([forged, forgedGone, raised, heard])));
    attack();
    await eventually(
      "the owner refused the forgeries and the replay",
      () =>
        owner.node.presenceBoard.stats.invalid >= invalidBefore + 3 &&
        owner.node.presenceBoard.stats.old >= oldBefore + 1,
    );
    expect((await presenceAt(owner, victim))?.at).toBeLessThan(MAX_AT);

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
    for (const reader of [owner, mallory]) {
      expect((await presenceAt(reader, victim))?.at).toBeLessThan(MAX_AT);
    }
  });
});
