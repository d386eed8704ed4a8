// PeerNode.inputStats(): what a peer was sent and refused (forged, over quota,
// replayed, junk on a channel, frames for no channel) is counted there, and none
// of it is applied.
import { afterEach, describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import type { PeerNode, PeerNodeOptions } from "../../core/peer/peer-node.ts";
import { PRESENCE_PROTOCOL } from "../../core/state/presence-board.ts";
import { STATE_KIND } from "../../core/state/state-entry.ts";
import { STATE_PROTOCOL } from "../../core/state/store-sync.ts";
import { eventually } from "../helpers/eventually.ts";
import { memoryPeer } from "../helpers/memory-peer.ts";

const nodes: PeerNode[] = [];

afterEach(() => {
  for (const n of nodes.splice(0)) n.stop();
});

async function makeNode(
  hub: MemorySignalingHub,
  network: MemoryNetwork,
  extra: Partial<PeerNodeOptions> = {},
): Promise<PeerNode> {
  const node = await memoryPeer(hub, network, {
    mesh: { targetDegree: 2, maxDegree: 2, maintainIntervalMs: 100 },
    ...extra,
  });
  nodes.push(node);
  return node;
}

const entry = (who: Identity, key: string, seq: number, value: unknown) =>
  signEntry(who, STATE_KIND, { space: "vms", key, seq, value });

describe("PeerNode.inputStats", () => {
  it("counts forged, over-quota and replayed entries, and holds none of them", async () => {
    const node = await makeNode(new MemorySignalingHub(), new MemoryNetwork(), {
      storeLimits: { maxEntriesPerAuthor: 2 },
    });
    const before = node.inputStats();
    expect(before.entries).toEqual({ applied: 0, invalid: 0, overQuota: 0, stale: 0 });
    expect(before.sync.dropped).toBe(0);
    expect(before.frames.dropped).toBe(0);

    const alice = await createIdentity();
    const mallory = await createIdentity();
    const first = await entry(alice, "a", 1, "one");
    const second = await entry(alice, "a", 2, "two");
    expect(await node.store.apply(second)).toBe("applied");
    // A replay of an older entry, and the same entry again.
    expect(await node.store.apply(first)).toBe("stale");
    expect(await node.store.apply(second)).toBe("stale");
    // Forged: Mallory's signature under Alice's key; and plain junk.
    const forged = { ...(await entry(mallory, "a", 99, "mine")), publicKey: alice.publicKey };
    expect(await node.store.apply(forged)).toBe("invalid");
    expect(await node.store.apply({ kind: STATE_KIND, payload: 1 })).toBe("invalid");
    // Over quota: a third slot when an author may hold two.
    expect(await node.store.apply(await entry(alice, "b", 3, "b"))).toBe("applied");
    expect(await node.store.apply(await entry(alice, "c", 4, "c"))).toBe("over-quota");

    const s = node.inputStats();
    expect(s.entries).toEqual({ applied: 2, invalid: 2, overQuota: 1, stale: 2 });
    expect(s.signatures.badSignature - before.signatures.badSignature).toBeGreaterThanOrEqual(1);
    expect(s.signatures.malformed - before.signatures.malformed).toBeGreaterThanOrEqual(1);
    expect(node.store.get(alice.peerId, "vms", "a")).toBe("two");
    expect(node.store.get(alice.peerId, "vms", "c")).toBeUndefined();
    // A plain copy: later refusals do not change what was handed out.
    await node.store.apply(forged);
    expect(s.entries.invalid).toBe(2);
    expect(node.inputStats().entries.invalid).toBe(3);
  });

  it("counts junk sync and presence messages and frames for unknown channels from a linked peer", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const a = await makeNode(hub, network);
    const b = await makeNode(hub, network);
    a.start();
    b.start();
    await eventually("a direct link", () => a.mesh.openLinks().includes(b.self) && b.mesh.isOpen(a.self));

    const junk = new TextEncoder().encode("not json {");
    expect(b.mesh.channel(STATE_PROTOCOL).send(a.self, junk)).toBe(true);
    expect(b.mesh.channel(PRESENCE_PROTOCOL).send(a.self, junk)).toBe(true);
    expect(b.mesh.channel({ name: "nobody-listens", id: 99, version: 1 }).send(a.self, junk)).toBe(true);

    await eventually("a counts all three", () => {
      const s = a.inputStats();
      return s.sync.dropped >= 1 && s.presence.badMessages >= 1 && s.frames.dropped >= 1;
    });
    const s = a.inputStats();
    expect(s.sync.dropped).toBe(1);
    expect(s.presence.badMessages).toBe(1);
    expect(s.frames.dropped).toBe(1);
    expect(s.entries.invalid).toBe(0);
  });
});
