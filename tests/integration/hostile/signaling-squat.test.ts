// Squatting a room and starving the server (issue 8, item 8): one key opening
// many sessions to fill a room, plain TCP sockets that never send a byte, a
// slowloris that never finishes its request headers, and the reconnect that
// used to leave a lone peer in a room nobody else could find. After each, an
// honest peer still gets in. Limits are lowered so each case takes a second or two.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createIdentity } from "../../../core/crypto/identity.ts";
import { limitsFromEnv, resolveLimits } from "../../../signaling-server/limits.ts";
import {
  createSignalingServer,
  type SignalingServer,
  type SignalingServerOptions,
} from "../../../signaling-server/server.ts";
import { eventually } from "../../helpers/eventually.ts";
import {
  type RawTcp,
  rawTcp,
  type ServerMessageOf,
  SignalingClient,
  within,
} from "../raw-signaling-client.ts";

const servers: SignalingServer[] = [];
const clients: SignalingClient[] = [];
const raws: RawTcp[] = [];

async function start(options: SignalingServerOptions = {}) {
  const server = createSignalingServer({ port: 0, socketsPerIp: 1_000, ...options });
  servers.push(server);
  await server.ready;
  const url = `${server.address().url.replace("http", "ws")}/signal`;
  const connect = async (opts: Parameters<typeof SignalingClient.connect>[1] = {}) => {
    const c = await SignalingClient.connect(url, opts);
    clients.push(c);
    return c;
  };
  const tcp = async (localAddress?: string) => {
    const r = await rawTcp(server.address().port, localAddress);
    raws.push(r);
    return r;
  };
  return { server, url, connect, tcp };
}

type Started = Awaited<ReturnType<typeof start>>;

/** Two fresh peers join `room` (fresh if not given) and signal each other; then they leave. */
async function honestPairWorks(s: Started, room = `honest-${Math.random().toString(36).slice(2)}`) {
  const [x, y] = await Promise.all([createIdentity(), createIdentity()]);
  const a = await s.connect();
  const b = await s.connect();
  const ja = await a.join(x, room, "a");
  const jb = await b.join(y, room, "b");
  expect(jb.peers).toContainEqual({ peer: ja.self, publicKey: x.publicKey });
  a.send({ type: "signal", to: jb.self, data: { sdp: "offer" } });
  expect(await b.next("signal")).toEqual({ type: "signal", from: ja.self, data: { sdp: "offer" } });
  a.close();
  b.close();
  await Promise.all([a.closed, b.closed]);
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const r of raws.splice(0)) r.socket.destroy();
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe("signaling server, squatters and starvation", () => {
  it("caps the sessions one key holds in a room; an honest peer still joins", async () => {
    const s = await start({ sessionsPerKey: 4, peersPerRoom: 10 });
    const squatter = await createIdentity();
    const socks = await Promise.all(Array.from({ length: 10 }, () => s.connect()));
    const joined: ServerMessageOf<"joined">[] = [];
    for (let i = 0; i < 4; i++) joined.push(await socks[i]!.join(squatter, "main", `s${i}`));
    for (let i = 4; i < 10; i++)
      await expect(socks[i]!.join(squatter, "main", `s${i}`)).rejects.toThrow(
        /join refused: too-many-sessions .*4 sessions/,
      );
    // Refused, not cut: the socket may still join elsewhere.
    expect(socks[9]!.ws.readyState).toBe(socks[9]!.ws.OPEN);
    expect(s.server.stats()).toMatchObject({ rooms: 1, peers: 4 });
    // An honest pair fits in the room the squatter wanted to fill, and sees its four sessions.
    const honest = await createIdentity();
    const h = await s.connect();
    const jh = await h.join(honest, "main", "tab");
    expect(jh.peers.map((p) => p.peer).sort()).toEqual(joined.map((j) => j.self).sort());
    await honestPairWorks(s, "main");
    // A reconnect of a session it holds still fits (it replaces, not adds)…
    const again = await s.connect();
    expect((await again.join(squatter, "main", "s0")).self).toBe(joined[0]!.self);
    expect(await socks[0]!.closed).toEqual({ code: 4000, reason: "replaced" });
    // …and once one of its sessions leaves, it may open another.
    socks[1]!.close();
    await h.next((m) => m.type === "peer-left" && m.peer === joined[1]!.self);
    await socks[4]!.join(squatter, "main", "s4");
    expect(s.server.stats()).toMatchObject({ rooms: 1, peers: 5 });
  });

  it("counts plain TCP sockets per address from the first byte, and cuts idle ones at the header timeout", async () => {
    const s = await start({ connectionsPerIp: 20, headerTimeoutMs: 2_000 });
    const idle = await Promise.all(Array.from({ length: 300 }, () => s.tcp("127.0.0.2")));
    // Past the per-address cap a socket is told and closed at once, before it sends anything.
    await eventually(
      "280 sockets over the per-address cap closed",
      () => idle.filter((r) => r.socket.closed).length === 280,
      { timeoutMs: 1_500 },
    );
    const refused = await Promise.all(idle.filter((r) => r.socket.closed).map((r) => r.closed));
    for (const r of refused)
      expect(r.text).toMatch(/^HTTP\/1\.1 429 [\s\S]*X-Signaling-Error: too-many-connections/);
    expect(s.server.connections()).toBe(20);
    // Another address is unaffected while the twenty are still open.
    await honestPairWorks(s);
    const held = idle.filter((r) => !r.socket.closed);
    expect(held).toHaveLength(20);
    // The twenty never finish a request: cut at the header timeout with 408.
    const cut = await within(Promise.all(held.map((r) => r.closed)), 5_000, "idle sockets cut");
    for (const r of cut) expect(r.text).toMatch(/^HTTP\/1\.1 408/);
    await eventually("every connection released", () => s.server.connections() === 0);
    // Released exactly once each: the address has its whole quota back.
    const back = await Promise.all(Array.from({ length: 20 }, () => s.tcp("127.0.0.2")));
    const over = await s.tcp("127.0.0.2");
    expect((await within(over.closed, 1_000, "21st socket refused")).text).toMatch(/429/);
    expect(back.every((r) => !r.socket.closed)).toBe(true);
  });

  it("caps plain TCP sockets server-wide; once the idle ones are cut an honest pair joins", async () => {
    const s = await start({ maxConnections: 50, headerTimeoutMs: 1_000 });
    // From ten addresses, so the per-address cap is not what stops them.
    const idle = await Promise.all(Array.from({ length: 100 }, (_, i) => s.tcp(`127.0.0.${10 + (i % 10)}`)));
    await eventually(
      "50 sockets over the server-wide cap closed",
      () => idle.filter((r) => r.socket.closed).length === 50,
      { timeoutMs: 900 },
    );
    expect(s.server.connections()).toBe(50);
    // While they hold every place, a newcomer is told so (the cap keeps file descriptors for the server)…
    await expect(SignalingClient.connect(s.url)).rejects.toThrow(/HTTP 503 max-connections|ECONNRESET/);
    // …until the header timeout cuts the idle ones.
    const all = await within(Promise.all(idle.map((r) => r.closed)), 5_000, "idle sockets cut");
    const refused = all.filter((r) =>
      /^HTTP\/1\.1 503 [\s\S]*X-Signaling-Error: max-connections/.test(r.text),
    );
    const cut = all.filter((r) => /^HTTP\/1\.1 408/.test(r.text));
    expect([refused.length, cut.length]).toEqual([50, 50]);
    await eventually("every connection released", () => s.server.connections() === 0);
    await honestPairWorks(s);
  });

  it("cuts a slowloris that never finishes its request headers, and keeps a joined WebSocket", async () => {
    const s = await start({ headerTimeoutMs: 500 });
    const alice = await createIdentity();
    const member = await s.connect();
    await member.join(alice, "room", "tab");
    const started = Date.now();
    const half = await s.tcp();
    half.socket.write("GET /signal HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n");
    // One header line every 100 ms: it is never idle, yet never done.
    const drip = await s.tcp();
    drip.socket.write("GET / HTTP/1.1\r\n");
    let n = 0;
    const dripping = setInterval(() => drip.socket.write(`X-Drip-${n++}: 1\r\n`), 100);
    drip.socket.once("close", () => clearInterval(dripping));
    const [h, d] = await within(Promise.all([half.closed, drip.closed]), 5_000, "slowloris cut");
    clearInterval(dripping);
    for (const r of [h, d]) {
      expect(r.at - started).toBeGreaterThanOrEqual(450);
      expect(r.text).toMatch(/^HTTP\/1\.1 408/);
    }
    // The WebSocket that finished its handshake is not under the header timeout.
    expect(member.ws.readyState).toBe(member.ws.OPEN);
    await member.roundTrip();
    await eventually("the slowloris sockets released", () => s.server.connections() === 1);
    await honestPairWorks(s);
  });

  it("keeps the room findable when its only member reconnects with the same key and session", async () => {
    const s = await start();
    const [alice, bob] = await Promise.all([createIdentity(), createIdentity()]);
    const a1 = await s.connect();
    const j1 = await a1.join(alice, "solo", "tab");
    const a2 = await s.connect();
    const j2 = await a2.join(alice, "solo", "tab");
    expect(j2.self).toBe(j1.self);
    expect(j2.peers).toEqual([]);
    expect(await a1.closed).toEqual({ code: 4000, reason: "replaced" });
    // A second peer joining the room finds the reconnected one, and each can reach the other.
    const b = await s.connect();
    const jb = await b.join(bob, "solo", "tab");
    expect(jb.peers).toEqual([{ peer: j1.self, publicKey: alice.publicKey }]);
    expect((await a2.next("peer-joined")).peer.peer).toBe(jb.self);
    b.send({ type: "signal", to: j1.self, data: { hello: 1 } });
    expect(await a2.next("signal")).toEqual({ type: "signal", from: jb.self, data: { hello: 1 } });
    expect(s.server.stats()).toMatchObject({ rooms: 1, peers: 2 });
    // And the room goes once both have left.
    a2.close();
    b.close();
    await eventually("the room is gone", () => s.server.stats().rooms === 0 && s.server.stats().peers === 0);
  });
});

describe("signaling server, the new limits", () => {
  it("reads them from the environment, and keeps the connection caps above the socket caps unless given", () => {
    expect(
      limitsFromEnv({
        SIGNAL_SESSIONS_PER_KEY: "3",
        SIGNAL_CONNECTIONS_PER_IP: "40",
        SIGNAL_MAX_CONNECTIONS: "900",
        SIGNAL_HEADER_TIMEOUT_MS: "2500",
      }),
    ).toEqual({ sessionsPerKey: 3, connectionsPerIp: 40, maxConnections: 900, headerTimeoutMs: 2500 });
    expect(() => limitsFromEnv({ SIGNAL_HEADER_TIMEOUT_MS: "0" })).toThrow(/SIGNAL_HEADER_TIMEOUT_MS/);
    expect(resolveLimits()).toMatchObject({
      sessionsPerKey: 8,
      connectionsPerIp: 128,
      maxConnections: 21_024,
      headerTimeoutMs: 10_000,
    });
    expect(resolveLimits({ socketsPerIp: 20_000, maxSockets: 30_000 })).toMatchObject({
      connectionsPerIp: 20_064,
      maxConnections: 31_024,
    });
    expect(resolveLimits({ socketsPerIp: 20_000, connectionsPerIp: 10 }).connectionsPerIp).toBe(10);
  });
});
