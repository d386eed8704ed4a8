// Several hubs in one process sharing rooms through the in-memory twin of the
// Redis bus: what only the cluster logic decides (a peer moving between
// instances, an instance closing, the bus going and coming) without a Redis.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { MemoryBus, MemoryWorld } from "../../signaling-server/cluster/memory-bus.ts";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import { eventually } from "../helpers/eventually.ts";
import { SignalingClient } from "../integration/raw-signaling-client.ts";

let alice: Identity;
let bob: Identity;
const servers: SignalingServer[] = [];
const open: SignalingClient[] = [];

async function hub(world: MemoryWorld, log: string[] = []): Promise<SignalingServer> {
  const server = createSignalingServer({
    port: 0,
    gatewayRoom: null,
    roomBus: (id) => new MemoryBus(world, id),
    clusterHeartbeatIntervalMs: 50,
    clusterInstanceTtlMs: 200,
    clusterLog: (line) => log.push(line),
  });
  servers.push(server);
  await server.ready;
  await eventually("the hub shares", () => server.cluster().redisUp);
  return server;
}

async function joined(server: SignalingServer, identity: Identity, room: string, session = "s1") {
  const c = await SignalingClient.connect(`${server.address().url.replace("http", "ws")}/signal`);
  open.push(c);
  return { c, joined: await c.join(identity, room, session) };
}

beforeAll(async () => {
  [alice, bob] = await Promise.all([createIdentity(), createIdentity()]);
});

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe("hubs sharing rooms (in-memory bus)", () => {
  it("move a peer that joins again on another hub: the old socket goes as replaced, the others see no peer-left", async () => {
    const world = new MemoryWorld();
    const [a, b] = [await hub(world), await hub(world)];
    const { c: first, joined: j1 } = await joined(a, alice, "r", "tab");
    const { c: watcher, joined: jw } = await joined(a, bob, "r");
    const { c: again, joined: j2 } = await joined(b, alice, "r", "tab");
    expect(j2.self).toBe(j1.self);
    expect((await first.closed).code).toBe(4000);
    expect(j2.peers.map((p) => p.peer)).toEqual([jw.self]);
    await watcher.roundTrip();
    expect(watcher.queue.filter((m) => m.type === "peer-left")).toEqual([]);
    again.send({ type: "signal", to: jw.self, data: { moved: true } });
    expect(await watcher.next("signal")).toEqual({ type: "signal", from: j1.self, data: { moved: true } });
  });

  it("tell the other hubs' peers at once when a hub closes", async () => {
    const world = new MemoryWorld();
    const [a, b] = [await hub(world), await hub(world)];
    const { joined: ja } = await joined(a, alice, "r");
    const { c: cb } = await joined(b, bob, "r");
    await a.close();
    expect(await cb.next("peer-left", 1_000)).toEqual({ type: "peer-left", peer: ja.self });
    expect(b.cluster().remotePeers).toBe(0);
  });

  it("forget the remote peers while the bus is away and learn them again when it is back", async () => {
    const world = new MemoryWorld();
    const logA: string[] = [];
    const [a, b] = [await hub(world, logA), await hub(world)];
    const { c: ca } = await joined(a, alice, "r");
    const { joined: jb } = await joined(b, bob, "r");
    await ca.next("peer-joined");
    world.setUp(false);
    expect(await ca.next("peer-left")).toEqual({ type: "peer-left", peer: jb.self });
    expect(a.cluster()).toMatchObject({ redisUp: false, remotePeers: 0, instances: 1 });
    expect(logA.at(-1)).toBe("redis unreachable (test bus, no connection): running as a single instance");
    world.setUp(true);
    expect((await ca.next("peer-joined")).peer.peer).toBe(jb.self);
    expect(logA.at(-1)).toBe("redis reachable again: sharing rooms");
    expect(a.cluster()).toMatchObject({ redisUp: true, remotePeers: 1 });
  });

  it("take out of the bus, when it is back, a member that left while it was away (the bus kept its data)", async () => {
    const world = new MemoryWorld();
    const [a, b] = [await hub(world), await hub(world)];
    const { c: ca } = await joined(a, alice, "r");
    await joined(b, bob, "r");
    await ca.next("peer-joined");
    world.setUp(false, false);
    await eventually("a runs alone", () => !a.cluster().redisUp);
    ca.close();
    await eventually("alice has left a", () => a.stats().peers === 0);
    world.setUp(true);
    await eventually("both share again", () => a.cluster().redisUp && b.cluster().redisUp);
    await eventually("b lists no remote peer", () => b.cluster().remotePeers === 0);
    const carol = await createIdentity();
    const { joined: jc } = await joined(b, carol, "r");
    expect(jc.peers.map((p) => p.publicKey)).toEqual([bob.publicKey]);
  });
});
