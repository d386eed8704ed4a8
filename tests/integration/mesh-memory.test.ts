// Many peers in one process on the in-memory transport: the mesh stays within its
// degree cap, and the shared state converges, through peers that are not
// directly connected, including for a peer that joins late.
import { afterEach, describe, expect, it } from "vitest";
import { signEntry } from "../../core/crypto/signed.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import type { PeerNode } from "../../core/peer/peer-node.ts";
import { PROFILE_KIND } from "../../core/state/directory.ts";
import { type Clock, ManualClock, systemClock } from "../../core/util/clock.ts";
import { eventually, flushAsync } from "../helpers/eventually.ts";
import { memoryPeer } from "../helpers/memory-peer.ts";

const nodes: PeerNode[] = [];

afterEach(() => {
  for (const n of nodes.splice(0)) n.stop();
});

async function addPeer(
  hub: MemorySignalingHub,
  network: MemoryNetwork,
  maxDegree: number,
  clock: Clock = systemClock,
): Promise<PeerNode> {
  const node = await memoryPeer(hub, network, {
    clock,
    mesh: { targetDegree: maxDegree, maxDegree, maintainIntervalMs: 200 },
  });
  nodes.push(node);
  node.start();
  return node;
}

/** What a peer holds of every author, as one comparable string. */
const stateOf = (n: PeerNode) => JSON.stringify([...n.store.digest()].sort(([a], [b]) => (a < b ? -1 : 1)));

describe("mesh on the in-memory transport", () => {
  it("20 peers with degree capped at 3 converge on one state; a late peer catches up", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    let maxSeen = 0;
    const peers: PeerNode[] = [];
    for (let i = 0; i < 20; i++) peers.push(await addPeer(hub, network, 3));
    for (const [i, p] of peers.entries()) {
      p.mesh.on("change", () => {
        maxSeen = Math.max(maxSeen, p.mesh.links().length);
      });
      await p.setName(`peer-${i}`);
      await p.store.put("vms", `log-${i}`, `written by ${i}`);
    }
    await eventually(
      "every peer sees 20 profiles",
      async () => {
        const lists = await Promise.all(peers.map(async (p) => (await p.directory.profiles()).size));
        return lists.every((n) => n === 20);
      },
      { timeoutMs: 20_000 },
    );
    await eventually("identical digests", () => new Set(peers.map(stateOf)).size === 1, {
      timeoutMs: 10_000,
    });
    expect(peers[7]!.store.list("vms")).toHaveLength(20);
    // Bounded: never more than 3 links, and most pairs are not directly linked.
    expect(maxSeen).toBeLessThanOrEqual(3);
    const direct = peers.reduce((sum, p) => sum + p.mesh.openLinks().length, 0) / 2;
    expect(direct).toBeLessThan((20 * 19) / 2 / 4);

    const late = await addPeer(hub, network, 3);
    await eventually(
      "the late peer sees the others",
      async () => (await late.directory.profiles()).size === 20,
      { timeoutMs: 10_000 },
    );
    await late.setName("late");
    await eventually(
      "the others see the late peer",
      async () => (await peers[0]!.directory.profiles()).get(late.identity.peerId)?.payload.name === "late",
      { timeoutMs: 10_000 },
    );
    expect(late.store.list("vms")).toHaveLength(20);
  });

  it("settles glare: two peers dialing each other at once keep exactly one link", async () => {
    // Slow signaling, so both peers dial before either hears from the other. On a manual clock:
    // signaling delays, dials and mesh upkeep happen in the same order every run.
    const clock = new ManualClock();
    const hub = new MemorySignalingHub({ clock, delayMs: 30 });
    const network = new MemoryNetwork();
    const a = await addPeer(hub, network, 4, clock);
    const b = await addPeer(hub, network, 4, clock);
    await clock.runUntil(() => a.mesh.isOpen(b.self) && b.mesh.isOpen(a.self), {
      maxMs: 5000,
      flush: flushAsync,
      what: "a link between a and b",
    });
    await clock.advance(500, flushAsync); // a few rounds of mesh upkeep, which would drop a duplicate
    expect(network.openLinks).toBe(1);
    expect(a.mesh.links()).toHaveLength(1);
    expect(b.mesh.links()).toHaveLength(1);
    // Once one side stops, the pair is gone from both ends, and counted once.
    a.mesh.stop();
    await clock.runUntil(() => b.mesh.links().length === 0, {
      maxMs: 5000,
      flush: flushAsync,
      what: "b's end closed",
    });
    expect(network.openLinks).toBe(0);
  });

  it("keeps a peer's profile its own: a forgery under its id, in another's slot, never shows", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const alice = await addPeer(hub, network, 4);
    const mallory = await addPeer(hub, network, 4);
    await alice.setName("alice");
    await eventually(
      "mallory sees alice",
      async () => (await mallory.directory.profiles()).get(alice.identity.peerId)?.payload.name === "alice",
      { timeoutMs: 15_000 },
    );
    // Mallory writes a newer profile under Alice's id, genuinely signed with Mallory's key: only the
    // check that the signer owns the id it sits under keeps it out.
    const forged = await signEntry(mallory.identity, PROFILE_KIND, {
      peerId: alice.identity.peerId,
      name: "mallory-as-alice",
      updatedAt: Date.now() + 1000,
    });
    // Mallory can write only its own slots: it puts the forgery there, under Alice's id and another.
    await mallory.store.put("profiles", alice.identity.peerId, forged);
    await mallory.store.put("profiles", "f".repeat(32), forged);
    await eventually(
      "alice holds mallory's slots",
      () =>
        alice.store.get(mallory.identity.peerId, "profiles", alice.identity.peerId) !== undefined &&
        alice.store.get(mallory.identity.peerId, "profiles", "f".repeat(32)) !== undefined,
      { timeoutMs: 15_000 },
    );
    expect((await mallory.directory.profiles()).get(alice.identity.peerId)?.payload.name).toBe("alice");
    const seen = await alice.directory.profiles();
    expect(seen.has("f".repeat(32))).toBe(false);
    expect(seen.get(alice.identity.peerId)?.payload.name).toBe("alice");
  });

  it("shows who is linked directly and who is only heard of through the mesh", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const peers: PeerNode[] = [];
    for (let i = 0; i < 6; i++) peers.push(await addPeer(hub, network, 2));
    await eventually(
      "presence of all six",
      async () => {
        const views = await peers[0]!.peers();
        return views.length === 6 && views.every((v) => v.presence !== null);
      },
      { timeoutMs: 10_000 },
    );
    const views = await peers[0]!.peers();
    const kinds = new Set(views.map((v) => v.connection));
    expect(kinds.has("self")).toBe(true);
    expect(kinds.has("direct")).toBe(true);
    expect(kinds.has("relayed")).toBe(true);
    expect(views.filter((v) => v.connection === "direct").length).toBeLessThanOrEqual(2);
  });
});
