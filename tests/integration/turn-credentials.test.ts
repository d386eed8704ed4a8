// The signaling server with TURN set up: every joined peer gets its own coturn
// REST credentials beside the static ICE servers, and fresh ones on a ping once
// the old ones are past half their life (the server's clock is the test's).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { SignalingClient as PeerSignaling, randomSession } from "../../core/net/signaling-client.ts";
import { systemClock } from "../../core/util/clock.ts";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import { TurnIssuer, turnCredentials } from "../../signaling-server/turn-credentials.ts";
import { standardSockets } from "../../transports/websocket.ts";
import { eventually } from "../helpers/eventually.ts";
import { SignalingClient } from "./raw-signaling-client.ts";

const STUN = { urls: "stun:stun.example.org:3478" };
const TURN_URLS = ["turn:127.0.0.1:3478?transport=udp"];
const SECRET = "integration-secret";
const TTL_S = 600;

let nowS = 2_000_000_000;
let server: SignalingServer;
let plain: SignalingServer;
let alice: Identity;
const open: SignalingClient[] = [];

const wsUrl = (s: SignalingServer) => `${s.address().url.replace("http", "ws")}/signal`;

async function connect(s: SignalingServer): Promise<SignalingClient> {
  const c = await SignalingClient.connect(wsUrl(s));
  open.push(c);
  return c;
}

beforeAll(async () => {
  const turn = new TurnIssuer({ urls: TURN_URLS, secret: SECRET, ttlS: TTL_S }, () => nowS);
  server = createSignalingServer({ port: 0, iceServers: [STUN], turn, gatewayRoom: null });
  plain = createSignalingServer({ port: 0, iceServers: [STUN], gatewayRoom: null });
  await Promise.all([server.ready, plain.ready]);
  alice = await createIdentity();
});

afterAll(async () => {
  for (const c of open) c.close();
  await Promise.all([server?.close(), plain?.close()]);
});

describe("TURN credentials from the signaling server", () => {
  it("hands each joined peer its own, valid for the TTL, after the static servers", async () => {
    const c = await connect(server);
    const joined = await c.join(alice, "turn-room", "tab1");
    const expiry = nowS + TTL_S;
    expect(joined.iceServers).toEqual([
      STUN,
      { urls: TURN_URLS, ...turnCredentials(SECRET, joined.self, expiry) },
    ]);
    const other = await connect(server);
    const second = await other.join(alice, "turn-room", "tab2");
    expect(second.iceServers[1]?.username).toBe(`${expiry}:${second.self}`);
  });

  it("sends fresh ones with the pong once half the TTL has passed, and not before", async () => {
    const c = await connect(server);
    const joined = await c.join(alice, "turn-room", "tab3");
    await c.roundTrip();
    nowS += TTL_S / 2 - 1;
    await c.roundTrip();
    expect(c.queue.some((m) => m.type === "ice-servers")).toBe(false);
    nowS += 1;
    c.send({ type: "ping" });
    const fresh = await c.next("ice-servers");
    await c.next("pong");
    expect(fresh.iceServers).toEqual([
      STUN,
      { urls: TURN_URLS, ...turnCredentials(SECRET, joined.self, nowS + TTL_S) },
    ]);
    await c.roundTrip(); // the new ones are good for another half TTL
    expect(c.queue.some((m) => m.type === "ice-servers")).toBe(false);
  });

  it("reach a peer's signaling client, which makes its next links with the fresh ones", async () => {
    const peer = new PeerSignaling({
      url: wsUrl(server),
      room: "turn-room",
      identity: alice,
      session: randomSession(),
      socketFactory: standardSockets(WebSocket),
      clock: systemClock,
      pingIntervalMs: 20,
    });
    peer.start();
    try {
      const username = () => peer.iceServers().find((s) => s.username)?.username;
      await eventually("joined with credentials", () => username() === `${nowS + TTL_S}:${peer.self}`);
      nowS += TTL_S / 2;
      await eventually("fresh credentials", () => username() === `${nowS + TTL_S}:${peer.self}`);
    } finally {
      peer.stop();
    }
  });

  it("changes nothing without TURN settings", async () => {
    const c = await connect(plain);
    expect((await c.join(alice, "turn-room", "tab1")).iceServers).toEqual([STUN]);
  });
});
