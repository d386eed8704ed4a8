// Two (or more) signaling instances sharing rooms over a real redis-server:
// peers on different instances list each other and signal as if on one; the
// room caps hold across instances; a flood is cut where it comes in; a peer
// cannot make another instance deliver outside its room; Redis going away
// makes each instance run alone (with one log line) until it is back.
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { SignalingClient as PeerSignaling, randomSession } from "../../core/net/signaling-client.ts";
import { systemClock } from "../../core/util/clock.ts";
import { KEYS } from "../../signaling-server/cluster/room-bus.ts";
import {
  createSignalingServer,
  type SignalingServer,
  type SignalingServerOptions,
} from "../../signaling-server/server.ts";
import { type NodePeer, startNodePeer } from "../../transports/node-peer.ts";
import { standardSockets } from "../../transports/websocket.ts";
import { eventually } from "../helpers/eventually.ts";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.ts";
import { SignalingClient } from "./raw-signaling-client.ts";

let redis: RedisServer;
let alice: Identity;
let bob: Identity;
let carol: Identity;
const servers: SignalingServer[] = [];
const open: SignalingClient[] = [];

const FAST = { clusterHeartbeatIntervalMs: 100, clusterInstanceTtlMs: 400 } as const;

async function instance(options: SignalingServerOptions = {}, log: string[] = []): Promise<SignalingServer> {
  const server = createSignalingServer({
    port: 0,
    redisUrl: redis.url,
    gatewayRoom: null,
    clusterLog: (line) => log.push(line),
    ...FAST,
    ...options,
  });
  servers.push(server);
  await server.ready;
  await eventually("the instance reaches Redis", () => server.cluster().redisUp, { timeoutMs: 5_000 });
  return server;
}

const wsUrl = (s: SignalingServer) => `${s.address().url.replace("http", "ws")}/signal`;

async function joined(server: SignalingServer, identity: Identity, room: string, session = "s1") {
  const c = await SignalingClient.connect(wsUrl(server));
  open.push(c);
  return { c, joined: await c.join(identity, room, session) };
}

beforeAll(async () => {
  redis = await startRedisServer();
  [alice, bob, carol] = await Promise.all([createIdentity(), createIdentity(), createIdentity()]);
});

const children: ChildProcess[] = [];
const peers: PeerSignaling[] = [];

/** An instance in a child process (cluster-instance.ts), to be killed with SIGKILL. */
async function childInstance(): Promise<{ proc: ChildProcess; url: string; instanceId: string }> {
  const proc = fork(fileURLToPath(new URL("./cluster-instance.ts", import.meta.url)), [], {
    execArgv: ["--import", "tsx"],
    // A TTL well above the client's quick retry (< 0.5 s), as the defaults (3 s) are.
    env: { ...process.env, REDIS_URL: redis.url, CLUSTER_HEARTBEAT_MS: "200", CLUSTER_TTL_MS: "1200" },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.push(proc);
  const ready = await new Promise<{ port: number; instanceId: string }>((resolve, reject) => {
    proc.once("message", (m) => resolve(m as { port: number; instanceId: string }));
    proc.once("exit", (code) => reject(new Error(`the instance exited (${code})`)));
  });
  return { proc, url: `ws://127.0.0.1:${ready.port}/signal`, instanceId: ready.instanceId };
}

function killed(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else {
      proc.once("exit", () => resolve());
      proc.kill("SIGKILL");
    }
  });
}

const nodePeers: NodePeer[] = [];

async function nodePeer(server: SignalingServer, name: string): Promise<NodePeer> {
  const peer = startNodePeer({
    url: wsUrl(server),
    room: "mesh",
    identity: await createIdentity(),
    presence: () => ({
      name,
      appVersion: "node",
      capacity: { contributing: false, cores: 2, memoryMiB: 0, budgetPct: 0, slots: 0 },
      load: { vms: 0, usedPct: 0 },
    }),
  });
  nodePeers.push(peer);
  return peer;
}

afterEach(async () => {
  for (const p of nodePeers.splice(0)) p.stop();
  for (const p of peers.splice(0)) p.stop();
  await Promise.all(children.splice(0).map(killed));
  for (const c of open.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await redis?.stop();
});

describe("instances sharing rooms over Redis", () => {
  it("list each other's peers and relay signals between them", async () => {
    const [a, b] = [await instance(), await instance()];
    expect(a.cluster().instanceId).not.toBe(b.cluster().instanceId);
    const { c: ca, joined: ja } = await joined(a, alice, "shared");
    const { c: cb, joined: jb } = await joined(b, bob, "shared");
    expect(jb.peers).toEqual([{ peer: ja.self, publicKey: alice.publicKey }]);
    expect((await ca.next("peer-joined")).peer).toEqual({ peer: jb.self, publicKey: bob.publicKey });

    ca.send({ type: "signal", to: jb.self, data: { sdp: "offer", n: 1 } });
    expect(await cb.next("signal")).toEqual({ type: "signal", from: ja.self, data: { sdp: "offer", n: 1 } });
    cb.send({ type: "signal", to: ja.self, data: { sdp: "answer" } });
    expect(await ca.next("signal")).toEqual({ type: "signal", from: jb.self, data: { sdp: "answer" } });
    await eventually(
      "both instances count",
      () => a.cluster().instances === 2 && b.cluster().instances === 2,
    );
    expect(a.cluster()).toMatchObject({
      mode: "redis",
      redisUp: true,
      remotePeers: 1,
      published: 1,
      delivered: 1,
    });

    cb.close();
    expect(await ca.next("peer-left")).toEqual({ type: "peer-left", peer: jb.self });
    await eventually("no remote peers left", () => a.cluster().remotePeers === 0);
  });

  it("let Node peers (WebRTC) on different instances link to each other", async () => {
    const [a, b] = [await instance(), await instance()];
    const x = await nodePeer(a, "x");
    const y = await nodePeer(b, "y");
    await eventually(
      "a WebRTC link both ways",
      () =>
        x.node.mesh.openLinks().includes(y.signaling.self) &&
        y.node.mesh.openLinks().includes(x.signaling.self),
      { timeoutMs: 30_000 },
    );
    expect(a.cluster().published).toBeGreaterThan(0);
    expect(b.cluster().delivered).toBeGreaterThan(0);
  });

  it("hold the room caps across instances (peers per room, sessions per key)", async () => {
    const [a, b] = [
      await instance({ peersPerRoom: 2, sessionsPerKey: 1 }),
      await instance({ peersPerRoom: 2, sessionsPerKey: 1 }),
    ];
    await joined(a, alice, "capped", "s1");
    await expect(joined(b, alice, "capped", "s2")).rejects.toThrow(/too-many-sessions/);
    await joined(b, bob, "capped");
    await expect(joined(a, carol, "capped")).rejects.toThrow(/room-full/);
    await expect(joined(b, carol, "capped")).rejects.toThrow(/room-full/);
  });

  it("cut a relay flood at the instance it comes in on; the remote target gets no more than the limit lets through", async () => {
    const limits = { messagesPerSecond: 5, burst: 10 };
    const [a, b] = [await instance(limits), await instance(limits)];
    const { c: flooder, joined: jf } = await joined(a, alice, "flood");
    const { c: target, joined: jt } = await joined(b, bob, "flood");
    await flooder.next("peer-joined");
    for (let i = 0; i < 200; i++) flooder.send({ type: "signal", to: jt.self, data: { i } });
    const closed = await flooder.closed;
    expect(closed.reason).toBe("flooding");
    await target.roundTrip();
    // The flood's signals that got through the bucket have crossed by now (a ping to b
    // after them does not order them, so wait for the count to settle).
    await eventually("the allowed signals arrive", () => b.cluster().delivered >= limits.burst - 1);
    const received = target.queue.filter((m) => m.type === "signal" && m.from === jf.self).length;
    expect(received).toBeLessThanOrEqual(limits.burst + 1);
    expect(received).toBeGreaterThan(0);
    expect(await target.next("peer-left")).toEqual({ type: "peer-left", peer: jf.self });
  });

  it("refuse a signal to a peer of another room, deliver nothing forged for a peer outside its room, and name the true sender", async () => {
    const [a, b] = [await instance(), await instance()];
    const { c: ca, joined: ja } = await joined(a, alice, "room-1");
    const { c: cb, joined: jb } = await joined(b, bob, "room-2");
    const { c: cc, joined: jc } = await joined(a, carol, "room-2");
    await cb.next("peer-joined");
    ca.send({ type: "signal", to: jb.self, data: { x: 1 } });
    expect((await ca.next("error")).code).toBe("unknown-peer");
    // Straight onto b's channel: a signal "from" a peer that is not in bob's room, and one naming the wrong room.
    const raw = createClient({ url: redis.url });
    await raw.connect();
    try {
      await raw.publish(
        KEYS.signals(b.cluster().instanceId),
        JSON.stringify([{ room: "room-2", from: ja.self, to: jb.self, data: { forged: 1 } }]),
      );
      await raw.publish(
        KEYS.signals(b.cluster().instanceId),
        JSON.stringify([
          { room: "room-1", from: ja.self, to: jb.self, data: { forged: 2 } },
          { room: "room-2", from: "x", to: jb.self, data: { forged: 3 } },
          "junk",
        ]),
      );
      await raw.publish(KEYS.signals(b.cluster().instanceId), "not json");
    } finally {
      raw.destroy();
    }
    // Published after the forged ones, so b reads it after them; a "from" of the
    // client's own making is not what b is told.
    cc.sendRaw(JSON.stringify({ type: "signal", to: jb.self, from: ja.self, data: { honest: true } }));
    const honest = await cb.next("signal");
    expect(honest.data).toEqual({ honest: true });
    expect(honest.from).toBe(jc.self);
    expect(cb.queue.filter((m) => m.type === "signal")).toEqual([]);
    expect(b.cluster().delivered).toBe(1);
  });

  it("move a killed instance's peers to the other within seconds; its other members drop out of the room", async () => {
    const a = await childInstance();
    const b = await instance();
    const mover = new PeerSignaling({
      url: [a.url, wsUrl(b)],
      room: "moving",
      identity: alice,
      session: randomSession(),
      socketFactory: standardSockets(WebSocket),
      clock: systemClock,
    });
    peers.push(mover);
    mover.start();
    await eventually("the mover joined on a", () => mover.status().state === "joined");
    expect(mover.status().url).toBe(a.url);
    const stranded = await SignalingClient.connect(a.url);
    open.push(stranded);
    const js = await stranded.join(carol, "moving", "s1");
    const { c: watcher, joined: jw } = await joined(b, bob, "moving");
    expect(jw.peers.map((p) => p.peer).sort()).toEqual([mover.self, js.self].sort());

    const killedAt = Date.now();
    await killed(a.proc);
    await eventually(
      "the mover is on b",
      () => mover.status().state === "joined" && mover.status().url === wsUrl(b),
      { timeoutMs: 5_000 },
    );
    // The stranded member goes when a's heartbeat has run out; the mover never left.
    expect(await watcher.next("peer-left", 5_000)).toEqual({ type: "peer-left", peer: js.self });
    expect(Date.now() - killedAt).toBeLessThan(3_000);
    // The mover reconnected before a's heartbeat ran out: it never left the room.
    expect(watcher.queue.filter((m) => m.type === "peer-left")).toEqual([]);
    await eventually("the mover lists bob only", () => mover.members().length === 1);
    expect(mover.members()).toEqual([{ peer: jw.self, publicKey: bob.publicKey }]);
    expect(mover.sendSignal(jw.self, { after: "move" })).toBe(true);
    expect(await watcher.next("signal")).toEqual({
      type: "signal",
      from: mover.self,
      data: { after: "move" },
    });
    await eventually("b counts itself alone", () => b.cluster().instances === 1);
  });

  it("run alone while Redis is away, with one log line each way, and share again when it is back", async () => {
    const logA: string[] = [];
    const logB: string[] = [];
    const a = await instance({}, logA);
    const b = await instance({}, logB);
    const { c: ca, joined: ja } = await joined(a, alice, "outage");
    const { c: cb, joined: jb } = await joined(b, bob, "outage");
    await ca.next("peer-joined");

    await redis.stop();
    expect(await ca.next("peer-left")).toEqual({ type: "peer-left", peer: jb.self });
    expect(await cb.next("peer-left")).toEqual({ type: "peer-left", peer: ja.self });
    const where = `127.0.0.1:${redis.port}`;
    expect(logA.at(-1)).toBe(`redis unreachable (${where}, no connection): running as a single instance`);
    expect(logB.at(-1)).toBe(`redis unreachable (${where}, no connection): running as a single instance`);
    expect(a.cluster()).toMatchObject({ mode: "redis", redisUp: false, instances: 1, remotePeers: 0 });
    const health = (await (await fetch(`${a.address().url}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ redis: "down", instanceId: a.cluster().instanceId });
    // Alone, a still works: a new peer joins and signals.
    const { c: cc, joined: jc } = await joined(a, carol, "outage");
    expect((await ca.next("peer-joined")).peer.peer).toBe(jc.self);
    cc.send({ type: "signal", to: ja.self, data: { alone: true } });
    expect((await ca.next("signal")).data).toEqual({ alone: true });

    await redis.start();
    expect((await ca.next("peer-joined", 10_000)).peer.peer).toBe(jb.self);
    const backAtB = [
      (await cb.next("peer-joined", 10_000)).peer.peer,
      (await cb.next("peer-joined", 10_000)).peer.peer,
    ];
    expect(backAtB.sort()).toEqual([ja.self, jc.self].sort());
    expect(logA.filter((l) => l.startsWith("redis unreachable"))).toHaveLength(1);
    expect(logA.at(-1)).toBe("redis reachable again: sharing rooms");
    expect(logB.at(-1)).toBe("redis reachable again: sharing rooms");
    cb.send({ type: "signal", to: ja.self, data: { back: true } });
    expect((await ca.next("signal")).data).toEqual({ back: true });
    expect((await (await fetch(`${a.address().url}/healthz`)).json()) as object).toMatchObject({
      redis: "up",
    });
  });

  it("run alone while Redis is frozen (connected, not answering), and share again when it answers", async () => {
    const log: string[] = [];
    const a = await instance({}, log);
    const b = await instance();
    const { c: ca } = await joined(a, alice, "frozen");
    const { joined: jb } = await joined(b, bob, "frozen");
    await ca.next("peer-joined");
    redis.pause();
    try {
      expect(await ca.next("peer-left", 5_000)).toEqual({ type: "peer-left", peer: jb.self });
      expect(log.at(-1)).toBe(
        `redis unreachable (127.0.0.1:${redis.port}, no answer): running as a single instance`,
      );
      expect(a.cluster().redisUp).toBe(false);
    } finally {
      redis.resume();
    }
    expect((await ca.next("peer-joined", 5_000)).peer.peer).toBe(jb.self);
    expect(log.at(-1)).toBe("redis reachable again: sharing rooms");
  });

  it("say redis off in /healthz without a Redis URL", async () => {
    const alone = createSignalingServer({ port: 0, gatewayRoom: null });
    servers.push(alone);
    await alone.ready;
    expect(alone.cluster()).toMatchObject({ mode: "single", redisUp: false, instances: 1 });
    const health = (await (await fetch(`${alone.address().url}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ ok: true, redis: "off", instanceId: alone.cluster().instanceId });
  });

  it("start alone, saying so once, when Redis cannot be reached at all", async () => {
    const log: string[] = [];
    const nowhere = await startRedisServer();
    await nowhere.stop();
    const a = createSignalingServer({
      port: 0,
      gatewayRoom: null,
      redisUrl: nowhere.url,
      clusterLog: (line) => log.push(line),
    });
    servers.push(a);
    await a.ready;
    await eventually("the log says so", () => log.length > 0);
    expect(log).toEqual([
      `redis unreachable (127.0.0.1:${nowhere.port}, no connection): running as a single instance`,
    ]);
    const { c: ca, joined: ja } = await joined(a, alice, "alone");
    const { joined: jb } = await joined(a, bob, "alone");
    expect(jb.peers.map((p) => p.peer)).toEqual([ja.self]);
    expect((await ca.next("peer-joined")).peer.peer).toBe(jb.self);
    expect((await (await fetch(`${a.address().url}/healthz`)).json()) as object).toMatchObject({
      redis: "down",
    });
    expect(log).toHaveLength(1);
  });
});
