// One PeerNode on the in-memory network with real keys: what most state, mesh and
// hostile tests start from. Options override the defaults (any PeerNode option).
import { createIdentity } from "../../core/crypto/identity.ts";
import type { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import { peerAddress } from "../../core/net/peer-address.ts";
import { PeerNode, type PeerNodeOptions, type PresenceFields } from "../../core/peer/peer-node.ts";
import { systemClock } from "../../core/util/clock.ts";

/** What a peer that offers nothing says about itself. */
export const quietPresence = (): PresenceFields => ({
  name: "",
  appVersion: "test",
  capacity: { contributing: false, cores: 1, memoryMiB: 0, budgetPct: 0, slots: 0 },
  load: { vms: 0, usedPct: 0 },
});

/** A node of a fresh identity (session "s1"), not started yet. */
export async function memoryPeer(
  hub: MemorySignalingHub,
  network: MemoryNetwork,
  options: Partial<PeerNodeOptions> = {},
): Promise<PeerNode> {
  const identity = options.identity ?? (await createIdentity());
  const info = { peer: peerAddress(identity.peerId, "s1"), publicKey: identity.publicKey };
  return new PeerNode({
    identity,
    signaling: hub.connect(info),
    linkFactory: network.factory(info.peer),
    clock: systemClock,
    presence: quietPresence,
    ...options,
  });
}
