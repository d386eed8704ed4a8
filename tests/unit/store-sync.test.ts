// Store sync between two peers on a manual clock: they converge when the first
// messages are lost or arrive out of order, and a hostile link can neither buy a
// large reply with a small request nor make this peer take more than its rate.
import { describe, expect, it } from "vitest";
import { createIdentity } from "../../core/crypto/identity.ts";
import { AuthorStore } from "../../core/state/author-store.ts";
import { STATE_PROTOCOL, StoreSync, type StoreSyncOptions } from "../../core/state/store-sync.ts";
import { ManualClock } from "../../core/util/clock.ts";
import { flushAsync } from "../helpers/eventually.ts";
import { meshPair, openPair, type PairEnd } from "../helpers/mesh-pair.ts";

const flush = () => flushAsync(3);

async function peer(end: PairEnd, clock: ManualClock, options: StoreSyncOptions = {}) {
  const store = new AuthorStore(await createIdentity());
  const sync = new StoreSync(store, end, clock, { resyncIntervalMs: 10_000, ...options });
  sync.start();
  return { store, sync, end };
}

const same = (a: AuthorStore, b: AuthorStore) =>
  JSON.stringify([...a.digest()].sort()) === JSON.stringify([...b.digest()].sort());

describe("store sync", () => {
  it("catches up after the first messages on a link were lost", async () => {
    const clock = new ManualClock();
    const [ea, eb] = meshPair();
    ea.open = eb.open = false; // b writes while the link is not up yet
    const a = await peer(ea, clock);
    const b = await peer(eb, clock);
    for (let i = 0; i < 5; i++) await b.store.put("vms", `k${i}`, i);
    ea.dropNext = 1; // a's digest is lost
    eb.dropNext = 1; // and b's
    openPair(ea, eb);
    await clock.advance(10, flush);
    expect(a.store.list("vms")).toHaveLength(0);
    await clock.runUntil(() => same(a.store, b.store), { flush, what: "convergence", maxMs: 30_000 });
    expect(a.store.list("vms")).toHaveLength(5);
  });

  it("passes new entries on at once, and heals a gap left by a lost one", async () => {
    const clock = new ManualClock();
    const [ea, eb] = meshPair();
    const a = await peer(ea, clock);
    const b = await peer(eb, clock);
    openPair(ea, eb);
    await clock.advance(10, flush);
    await a.store.put("vms", "first", 1);
    await clock.runUntil(() => b.store.list("vms").length === 1, {
      flush,
      what: "the first entry",
      maxMs: 1000,
    });
    expect(b.store.get(a.store.authors()[0]!, "vms", "first")).toBe(1);
    // The next one is lost in flight; a later one arrives: b is level on seq but misses one.
    ea.dropNext = 1;
    await a.store.put("vms", "lost", 2);
    await clock.advance(10, flush);
    await a.store.put("vms", "later", 3);
    // Well before the next digest exchange (10 s), the later one is there and the lost one is not.
    await clock.runUntil(() => b.store.list("vms").length === 2, {
      flush,
      what: "the later entry",
      maxMs: 1000,
    });
    expect(b.store.get(a.store.authors()[0]!, "vms", "lost")).toBeUndefined();
    await clock.runUntil(() => same(a.store, b.store), { flush, what: "the gap healed", maxMs: 30_000 });
    expect(b.store.list("vms")).toHaveLength(3);
  });

  it("answers a tiny digest with no more than the link's reply budget", async () => {
    const clock = new ManualClock();
    const [ea, eb] = meshPair();
    const rich = await peer(ea, clock, { replyBytesPerS: 20_000, replyBurstBytes: 40_000 });
    for (let i = 0; i < 200; i++) await rich.store.put("vms", `k${i}`, "v".repeat(200));
    const asker = eb.channel(STATE_PROTOCOL);
    const request = new TextEncoder().encode(JSON.stringify({ t: "digest", d: [] }));
    const sentBefore = ea.sentBytes;
    for (let i = 0; i < 20; i++) asker.send("a", request); // 20 tiny requests at once
    await clock.advance(1000, flush);
    const replied = ea.sentBytes - sentBefore;
    // One second: at most the burst plus one second of rate (and one message over the edge).
    expect(replied).toBeLessThanOrEqual(40_000 + 20_000 + 140 * 1024);
    expect(replied / (request.length * 20)).toBeGreaterThan(10); // it did answer
    expect(rich.sync.stats.replyBytes).toBeLessThanOrEqual(replied);
  });

  it("takes no more from one link than its receive rate, and counts what it drops", async () => {
    const clock = new ManualClock();
    const [ea, eb] = meshPair();
    const target = await peer(ea, clock, { receiveBytesPerS: 10_000, receiveBurstBytes: 10_000 });
    const junk = new TextEncoder().encode(JSON.stringify({ t: "entries", e: [{ x: "y".repeat(4000) }] }));
    const flood = eb.channel(STATE_PROTOCOL);
    for (let i = 0; i < 50; i++) flood.send("a", junk);
    flood.send("a", new TextEncoder().encode("not json"));
    await clock.advance(10, flush);
    // About two of them fit the burst; every other one is dropped unparsed; none is held.
    expect(target.sync.stats.dropped).toBeGreaterThanOrEqual(48);
    expect(target.store.stats.invalid).toBeLessThanOrEqual(3);
    expect(target.store.authors()).toEqual([]);
  });
});
