// Attack 6: filling every peer's memory and disk, and buying big replies with
// small requests. Mallory signs 50 MB of entries in her own slots and pushes them
// straight down the state channel (past her own store's quota), and asks Alice
// for the whole state over and over with tiny digests. Honest peers hold no more
// of Mallory than the per-author quota, count what they refused, still agree on
// the honest state, and Alice's replies stay within her per-link budget.
import { afterEach, describe, expect, it } from "vitest";
import { signEntry } from "../../../core/crypto/signed.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../../core/net/memory-transport.ts";
import type { PeerNode } from "../../../core/peer/peer-node.ts";
import { DEFAULT_STORE_LIMITS } from "../../../core/state/author-store.ts";
import { STATE_KIND } from "../../../core/state/state-entry.ts";
import { STATE_PROTOCOL } from "../../../core/state/store-sync.ts";
import { eventually } from "../../helpers/eventually.ts";
import { memoryPeer } from "../../helpers/memory-peer.ts";

const nodes: PeerNode[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.stop();
});

const REPLY_BYTES_PER_S = 64 * 1024;
const REPLY_BURST_BYTES = 128 * 1024;

async function addPeer(hub: MemorySignalingHub, network: MemoryNetwork): Promise<PeerNode> {
  const node = await memoryPeer(hub, network, {
    mesh: { targetDegree: 4, maxDegree: 4, maintainIntervalMs: 200 },
    sync: { replyBytesPerS: REPLY_BYTES_PER_S, replyBurstBytes: REPLY_BURST_BYTES },
  });
  nodes.push(node);
  node.start();
  return node;
}

const encode = (m: unknown) => new TextEncoder().encode(JSON.stringify(m));

describe("attack 6: flooding the shared state", () => {
  it("holds no more of a flooding author than its quota, and the honest state still converges", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const alice = await addPeer(hub, network);
    const bob = await addPeer(hub, network);
    const mallory = await addPeer(hub, network);
    await eventually("everyone linked", () => nodes.every((n) => n.mesh.openLinks().length === 2));

    // 50 MB of genuinely signed entries in Mallory's own slots, sent past her own store.
    const junk = "j".repeat(50 * 1024);
    const channel = mallory.mesh.channel(STATE_PROTOCOL);
    let offeredBytes = 0;
    for (let i = 0; i < 1000; i++) {
      const e = await signEntry(mallory.identity, STATE_KIND, {
        space: "vms",
        key: `j${i}`,
        seq: i + 1,
        value: junk,
      });
      const frame = encode({ t: "entries", e: [e] });
      offeredBytes += frame.length;
      for (const to of [alice, bob]) channel.send(to.self, frame);
    }
    expect(offeredBytes).toBeGreaterThan(50e6);
    await alice.setName("alice");
    await eventually(
      "bob sees alice's name through the flood",
      async () => (await bob.directory.profiles()).get(alice.identity.peerId)?.payload.name === "alice",
      { timeoutMs: 30_000 },
    );
    for (const honest of [alice, bob]) {
      const held = honest.store.usage(mallory.identity.peerId);
      expect(held.bytes).toBeLessThanOrEqual(DEFAULT_STORE_LIMITS.maxBytesPerAuthor);
      expect(held.entries).toBeLessThanOrEqual(DEFAULT_STORE_LIMITS.maxEntriesPerAuthor);
      // Everything past the quota or the link's intake rate was refused, and counted.
      expect(honest.store.stats.overQuota + honest.sync.stats.dropped).toBeGreaterThan(900);
    }
  });

  it("answers a stream of tiny sync requests with no more than its per-link reply budget", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const alice = await addPeer(hub, network);
    const mallory = await addPeer(hub, network);
    for (let i = 0; i < 300; i++) await alice.store.put("vms", `k${i}`, "v".repeat(1000));
    await eventually("linked", () => alice.mesh.isOpen(mallory.self));
    await eventually("mallory caught up", () => mallory.store.list("vms").length === 300, {
      timeoutMs: 20_000,
    });
    const before = alice.sync.stats.replyBytes;
    const request = encode({ t: "digest", d: [] }); // "I hold nothing: send me everything"
    const channel = mallory.mesh.channel(STATE_PROTOCOL);
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) channel.send(alice.self, request);
    const received: number[] = [];
    const off = channel.on("message", (_r, payload) => received.push(payload.length));
    await eventually("the first replies", () => received.length > 0);
    const seconds = (Date.now() - t0) / 1000;
    off();
    const replied = alice.sync.stats.replyBytes - before;
    // The whole state is ~330 KB; 100 requests would buy 33 MB without the limit.
    expect(replied).toBeLessThanOrEqual(REPLY_BURST_BYTES + REPLY_BYTES_PER_S * (seconds + 1) + 140 * 1024);
    expect(replied / (request.length * 100)).toBeLessThan(2000);
  });
});
