import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createIdentity,
  type Identity,
  peerIdFromPublicKey,
  sign,
  verifySignature,
} from "../../core/crypto/identity.ts";
import { PEER_ADDRESS_PATTERN, peerAddress } from "../../core/net/peer-address.ts";
import { SIGNALING_PROTOCOL } from "../../core/net/signaling-protocol.ts";
import { toBase64Url } from "../../core/util/base64url.ts";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import { peerIdOfKey, verifyEd25519 } from "../../signaling-server/verify.ts";
import { eventually } from "../helpers/eventually.ts";
import { httpGet } from "../helpers/http-get.ts";
import { parsePrometheusText, sampleValue } from "../helpers/prometheus-text.ts";
import { SignalingClient } from "./raw-signaling-client.ts";

let server: SignalingServer;
let url: string;
let alice: Identity;
let bob: Identity;
let carol: Identity;
const open: SignalingClient[] = [];

async function connect(): Promise<SignalingClient> {
  const c = await SignalingClient.connect(url);
  open.push(c);
  return c;
}

async function joined(identity: Identity, room: string, session = "s1") {
  const c = await connect();
  return { c, joined: await c.join(identity, room, session) };
}

const get = (path: string) => httpGet(`${server.address().url}${path}`);

beforeAll(async () => {
  server = createSignalingServer({ port: 0, iceServers: [{ urls: "stun:stun.example.org:3478" }] });
  await server.ready;
  url = `${server.address().url.replace("http", "ws")}/signal`;
  [alice, bob, carol] = await Promise.all([createIdentity(), createIdentity(), createIdentity()]);
});

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await eventually("every socket closed", () => server.stats().sockets === 0, { timeoutMs: 3_000 });
});

afterAll(async () => {
  await server?.close();
});

describe("signaling server, honest peers", () => {
  it("challenges, and admits a peer that signs the challenge under its own id", async () => {
    const c = await connect();
    expect(c.protocol).toBe(SIGNALING_PROTOCOL);
    expect(c.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const other = await connect();
    expect(other.nonce).not.toBe(c.nonce);
    const j = await c.join(alice, "room-a", "tab1");
    expect(j.self).toBe(peerAddress(await peerIdFromPublicKey(alice.publicKey), "tab1"));
    expect(j.self).toMatch(PEER_ADDRESS_PATTERN);
    expect(j.room).toBe("room-a");
    expect(j.peers).toEqual([]);
    expect(j.iceServers).toEqual([{ urls: "stun:stun.example.org:3478" }]);
    expect(server.stats()).toMatchObject({ rooms: 1, peers: 1, sockets: 2 });
  });

  it("lists the members already there, and tells them who joined and who left", async () => {
    const a = await joined(alice, "room-b");
    const b = await joined(bob, "room-b");
    expect(b.joined.peers).toEqual([{ peer: a.joined.self, publicKey: alice.publicKey }]);
    expect(await a.c.next("peer-joined")).toEqual({
      type: "peer-joined",
      peer: { peer: b.joined.self, publicKey: bob.publicKey },
    });
    const c = await joined(carol, "room-b");
    expect(c.joined.peers.map((p) => p.peer).sort()).toEqual([a.joined.self, b.joined.self].sort());
    await a.c.next("peer-joined");
    await b.c.next("peer-joined");
    // A member of another room sees none of it.
    const elsewhere = await joined(carol, "room-other", "s2");
    expect(elsewhere.joined.peers).toEqual([]);

    b.c.close();
    expect(await a.c.next("peer-left")).toEqual({ type: "peer-left", peer: b.joined.self });
    expect(await c.c.next("peer-left")).toEqual({ type: "peer-left", peer: b.joined.self });
    await elsewhere.c.roundTrip(); // anything the server sent it before now has arrived
    expect(elsewhere.c.queue).toEqual([]);
    expect(server.stats()).toMatchObject({ rooms: 2, peers: 3 });
  });

  it("relays a signal to the named peer only, stamped with the sender's address", async () => {
    const a = await joined(alice, "room-c");
    const b = await joined(bob, "room-c");
    const c = await joined(carol, "room-c");
    const sdp = { kind: "offer", sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", n: [1, 2, 3] };
    a.c.send({ type: "signal", to: b.joined.self, data: sdp });
    expect(await b.c.next("signal")).toEqual({ type: "signal", from: a.joined.self, data: sdp });
    b.c.send({ type: "signal", to: a.joined.self, data: { kind: "answer" } });
    expect(await a.c.next("signal")).toEqual({
      type: "signal",
      from: b.joined.self,
      data: { kind: "answer" },
    });
    await c.c.roundTrip();
    expect(c.c.queue.filter((m) => m.type === "signal")).toEqual([]);
    const metrics = parsePrometheusText((await get("/metrics")).body);
    expect(sampleValue(metrics, "spare_signaling_relayed_total")).toBeGreaterThanOrEqual(2);
  });

  it("answers ping with pong", async () => {
    const a = await joined(alice, "room-d");
    a.c.send({ type: "ping" });
    expect(await a.c.next("pong")).toEqual({ type: "pong" });
  });

  it("lets the same key and session reconnect: the new socket replaces the old one", async () => {
    const a1 = await joined(alice, "room-e", "tab");
    const b = await joined(bob, "room-e");
    await a1.c.next("peer-joined");
    const a2 = await joined(alice, "room-e", "tab");
    expect(a2.joined.self).toBe(a1.joined.self);
    expect(a2.joined.peers).toEqual([{ peer: b.joined.self, publicKey: bob.publicKey }]);
    expect(await a1.c.closed).toEqual({ code: 4000, reason: "replaced" });
    // Bob hears the address again (a reconnect), and no peer-left for it.
    expect((await b.c.next("peer-joined")).peer.peer).toBe(a1.joined.self);
    b.c.send({ type: "signal", to: a1.joined.self, data: { hello: 2 } });
    expect(await a2.c.next("signal")).toEqual({ type: "signal", from: b.joined.self, data: { hello: 2 } });
    expect(b.c.queue.some((m) => m.type === "peer-left")).toBe(false);
    expect(server.stats()).toMatchObject({ rooms: 1, peers: 2 });
    // Another session of the same key is another address, and does not replace.
    const a3 = await joined(alice, "room-e", "other-tab");
    expect(a3.joined.peers.map((p) => p.peer).sort()).toEqual([a1.joined.self, b.joined.self].sort());
    expect(server.stats().peers).toBe(3);
  });

  it("reports health and Prometheus metrics with live counts", async () => {
    await joined(alice, "room-f");
    await joined(bob, "room-f");
    await joined(carol, "room-g");
    const health = await get("/healthz");
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true, sockets: 3, rooms: 2, peers: 3, ips: 1 });
    const metrics = await get("/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.type).toBe("text/plain; version=0.0.4; charset=utf-8");
    // Every line as a scraper reads it (the parser throws on any malformed one).
    const m = parsePrometheusText(metrics.body);
    expect(m.get("spare_signaling_sockets")?.type).toBe("gauge");
    expect(sampleValue(m, "spare_signaling_sockets")).toBe(3);
    expect(sampleValue(m, "spare_signaling_rooms")).toBe(2);
    expect(sampleValue(m, "spare_signaling_peers")).toBe(3);
    expect(sampleValue(m, "spare_signaling_connections")).toBeGreaterThanOrEqual(3);
    expect(m.get("spare_signaling_relayed_total")?.type).toBe("counter");
    expect(m.get("spare_signaling_rejected_total")?.type).toBe("counter");
    expect(sampleValue(m, "process_resident_memory_bytes")).toBeGreaterThan(10 * 1024 * 1024);
  });

  it("checks join proofs exactly as core/identity does", async () => {
    const data = new TextEncoder().encode("spare-cycles-signal/1\njoin\nnonce");
    const other = new TextEncoder().encode("spare-cycles-signal/1\njoin\nnoncf");
    for (const id of [alice, bob, await createIdentity()]) {
      expect(peerIdOfKey(id.publicKey)).toBe(await peerIdFromPublicKey(id.publicKey));
      const sig = await sign(id, data);
      const flipped = toBase64Url(
        Uint8Array.from(Buffer.from(sig, "base64url"), (b, i) => (i === 5 ? b ^ 1 : b)),
      );
      const cases: [string, Uint8Array, string][] = [
        [id.publicKey, data, sig],
        [id.publicKey, other, sig],
        [id.publicKey, data, flipped],
        [carol.publicKey, data, sig],
        [id.publicKey, data, "A".repeat(86)],
        ["A".repeat(43), data, sig],
        [id.publicKey.slice(0, 40), data, sig],
        [id.publicKey, data, "short"],
      ];
      const ours = cases.map(([k, d, s]) => verifyEd25519(k, d, s));
      expect(ours).toEqual(await Promise.all(cases.map(([k, d, s]) => verifySignature(k, d, s))));
      expect(ours).toEqual([true, false, false, false, false, false, false, false]);
    }
  });

  it("refuses upgrades on other paths", async () => {
    await expect(SignalingClient.connect(url.replace("/signal", "/elsewhere"))).rejects.toThrow(/HTTP 404/);
  });

  it("shuts down gracefully: tells every socket, closes with 1001, and resolves", async () => {
    const own = createSignalingServer({ port: 0, shutdownGraceMs: 2_000 });
    await own.ready;
    const ownUrl = `${own.address().url.replace("http", "ws")}/signal`;
    const a = await SignalingClient.connect(ownUrl);
    await a.join(alice, "room-z", "s");
    const b = await SignalingClient.connect(ownUrl); // not joined
    const started = Date.now();
    await own.close();
    // Both clients answer the close frame, so nobody waits for the grace period.
    expect(Date.now() - started).toBeLessThan(1_500);
    for (const c of [a, b]) {
      expect(await c.closed).toEqual({ code: 1001, reason: "shutting-down" });
      expect(c.queue.at(-1)).toMatchObject({ type: "error", code: "shutting-down" });
    }
    expect(own.stats()).toEqual({ sockets: 0, rooms: 0, peers: 0, admitted: 0, ips: 0 });
    await expect(SignalingClient.connect(ownUrl, {}, 1_000)).rejects.toThrow();
  });
});
