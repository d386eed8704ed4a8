// The shared state under load, all in memory with the real crypto: 50 peers, 50
// authors, 10,000 signed entries, time until every peer holds the same; how fast
// entries verify; what a hostile author's 50 MB flood leaves behind; and what a
// tiny sync request can buy in replies.
import { createIdentity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import { peerAddress } from "../../core/net/peer-address.ts";
import { PeerNode } from "../../core/peer/peer-node.ts";
import { AuthorStore, DEFAULT_STORE_LIMITS } from "../../core/state/author-store.ts";
import { STATE_KIND } from "../../core/state/state-entry.ts";
import { STATE_PROTOCOL, StoreSync } from "../../core/state/store-sync.ts";
import { ManualClock, systemClock } from "../../core/util/clock.ts";
import { meshPair, openPair } from "../../tests/helpers/mesh-pair.ts";
import { log } from "./context.ts";

const PEERS = 50;
const ENTRIES = 10_000;
const presence = () => ({
  name: "",
  appVersion: "bench",
  capacity: { contributing: false, cores: 1, memoryMiB: 0, budgetPct: 0, slots: 0 },
  load: { vms: 0, usedPct: 0 },
});
const record = (i: number) => ({ name: `vm-${i}`, memoryBytes: 100 << 20, note: "x".repeat(64) });
const digestOf = (n: PeerNode) => JSON.stringify([...n.store.digest()].sort(([a], [b]) => (a < b ? -1 : 1)));

async function converge(): Promise<{ converge_ms: number; bytes_per_entry: number }> {
  const hub = new MemorySignalingHub();
  const network = new MemoryNetwork();
  const nodes: PeerNode[] = [];
  for (let p = 0; p < PEERS; p++) {
    const identity = await createIdentity();
    const info = { peer: peerAddress(identity.peerId, "s1"), publicKey: identity.publicKey };
    nodes.push(
      new PeerNode({
        identity,
        signaling: hub.connect(info),
        linkFactory: network.factory(info.peer),
        clock: systemClock,
        presence,
      }),
    );
  }
  // Each author writes its share before it goes online.
  for (const [p, n] of nodes.entries())
    for (let i = 0; i < ENTRIES / PEERS; i++) await n.store.put("vms", `k${p}-${i}`, record(i));
  const t0 = performance.now();
  for (const n of nodes) n.start();
  const deadline = t0 + 120_000;
  for (;;) {
    if (new Set(nodes.map(digestOf)).size === 1 && nodes[0]!.store.list("vms").length === ENTRIES) break;
    if (performance.now() > deadline) throw new Error("state did not converge in 120 s");
    await new Promise((r) => setTimeout(r, 20));
  }
  const convergeMs = performance.now() - t0;
  const held = nodes[0]!.store.list("vms");
  const bytes = held.reduce((sum, s) => sum + JSON.stringify(s.entry).length, 0) / held.length;
  for (const n of nodes) n.stop();
  return { converge_ms: Math.round(convergeMs), bytes_per_entry: Math.round(bytes) };
}

async function verifyRate(): Promise<number> {
  const authors = await Promise.all(Array.from({ length: 20 }, () => createIdentity()));
  const entries = [];
  for (let i = 0; i < 2000; i++)
    entries.push(
      await signEntry(authors[i % 20]!, STATE_KIND, {
        space: "vms",
        key: `k${i}`,
        seq: i + 1,
        value: record(i),
      }),
    );
  const reader = new AuthorStore(await createIdentity());
  const t0 = performance.now();
  await Promise.all(entries.map((e) => reader.apply(e)));
  return Math.round(entries.length / ((performance.now() - t0) / 1000));
}

async function flood(): Promise<{ flood_offered_mb: number; flood_accepted_mb: number }> {
  const hostile = await createIdentity();
  const reader = new AuthorStore(await createIdentity());
  const value = "z".repeat(50 * 1024);
  let offered = 0;
  for (let i = 0; i < 1000; i++) {
    const e = await signEntry(hostile, STATE_KIND, { space: "vms", key: `junk${i}`, seq: i + 1, value });
    offered += JSON.stringify(e).length;
    await reader.apply(e);
  }
  const mb = (b: number) => Math.round((b / 1e6) * 100) / 100;
  return { flood_offered_mb: mb(offered), flood_accepted_mb: mb(reader.usage(hostile.peerId).bytes) };
}

async function amplification(): Promise<{ step1_reply_ratio: number; reply_bytes_per_s: number }> {
  const clock = new ManualClock();
  const [rich, asker] = meshPair();
  const store = new AuthorStore(await createIdentity());
  for (let i = 0; i < 500; i++) await store.put("vms", `k${i}`, record(i));
  const sync = new StoreSync(store, rich, clock);
  sync.start();
  openPair(rich, asker);
  const channel = asker.channel(STATE_PROTOCOL);
  const request = new TextEncoder().encode(JSON.stringify({ t: "digest", d: [] }));
  let requested = 0;
  const before = rich.sentBytes;
  // A hostile link asks a hundred times a second, for ten seconds.
  for (let t = 0; t < 1000; t++) {
    channel.send("a", request);
    requested += request.length;
    await clock.advance(10, async () => {
      for (let k = 0; k < 3; k++) await new Promise<void>((r) => setImmediate(r));
    });
  }
  const replied = rich.sentBytes - before;
  sync.stop();
  return {
    step1_reply_ratio: Math.round(replied / requested),
    reply_bytes_per_s: Math.round(replied / 10),
  };
}

export async function stateSyncBench(): Promise<Record<string, unknown>> {
  log(`state: ${PEERS} in-memory peers, ${ENTRIES} entries from ${PEERS} authors`);
  const c = await converge();
  log(`  converged in ${c.converge_ms} ms; ${c.bytes_per_entry} bytes per entry held`);
  const verify_per_s = await verifyRate();
  log(`  ${verify_per_s} entries verified per second`);
  const f = await flood();
  log(
    `  a hostile author offered ${f.flood_offered_mb} MB; ${f.flood_accepted_mb} MB held (quota ${DEFAULT_STORE_LIMITS.maxBytesPerAuthor / 1e6} MB)`,
  );
  const a = await amplification();
  log(`  a tiny sync request bought ${a.step1_reply_ratio}x its size; ${a.reply_bytes_per_s} reply bytes/s`);
  return { state_sync: { peers: PEERS, entries: ENTRIES, ...c, verify_per_s, ...f, ...a } };
}
