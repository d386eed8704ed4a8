// Node peers (node-datachannel) behind the same TURN rule as the browsers: with
// relayOnly they link only through a real coturn, with the credentials the
// signaling server handed each of them in "joined" (a REST username has a ':',
// which node-datachannel must get percent-encoded).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdentity } from "../../core/crypto/identity.ts";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import { type NodePeer, startNodePeer } from "../../transports/node-peer.ts";
import { type Coturn, startCoturn } from "../helpers/coturn.ts";
import { eventually } from "../helpers/eventually.ts";

let coturn: Coturn;
let server: SignalingServer;
const peers: NodePeer[] = [];

beforeAll(async () => {
  coturn = await startCoturn();
  server = createSignalingServer({
    port: 0,
    gatewayRoom: null,
    turn: { urls: [coturn.url], secret: coturn.secret, ttlS: 600 },
  });
  await server.ready;
});

afterAll(async () => {
  for (const p of peers) p.stop();
  await server?.close();
  await coturn?.stop();
});

async function relayOnlyPeer(name: string): Promise<NodePeer> {
  const peer = startNodePeer({
    url: `${server.address().url.replace("http", "ws")}/signal`,
    room: "turn-node",
    identity: await createIdentity(),
    relayOnly: true,
    presence: () => ({
      name,
      appVersion: "node",
      capacity: { contributing: false, cores: 2, memoryMiB: 0, budgetPct: 0, slots: 0 },
      load: { vms: 0, usedPct: 0 },
    }),
  });
  peers.push(peer);
  return peer;
}

describe("Node peers that may link only through TURN", () => {
  it("link through coturn with the server's credentials", async () => {
    const a = await relayOnlyPeer("a");
    const b = await relayOnlyPeer("b");
    await eventually(
      "a relayed link both ways",
      () =>
        a.node.mesh.openLinks().includes(b.signaling.self) &&
        b.node.mesh.openLinks().includes(a.signaling.self),
      { timeoutMs: 30_000 },
    );
    // coturn allocated for each peer under the username the server made for it.
    for (const p of [a, b]) {
      const escaped = p.signaling.self.replace(".", "\\.");
      await coturn.waitForLog(
        new RegExp(`user <\\d+:${escaped}>: incoming packet ALLOCATE processed, success`),
      );
    }
    expect(a.signaling.iceServers().some((s) => s.username?.endsWith(`:${a.signaling.self}`))).toBe(true);
  });
});
