// The signaling socket acceptance suite against both: `ws` through
// transports/websocket.ts against the real signaling server on a loopback port,
// and the in-memory twin against a small stand-in that speaks the same protocol.
import WebSocket from "ws";
import { peerIdFromPublicKey, verifySignature } from "../../core/crypto/identity.ts";
import { type MemoryServerSocket, MemorySocketServer } from "../../core/net/memory-transport.ts";
import { peerAddress } from "../../core/net/peer-address.ts";
import {
  encodeMessage,
  joinChallengeBytes,
  parseClientMessage,
  SIGNALING_PROTOCOL,
} from "../../core/net/signaling-protocol.ts";
import { toBase64Url } from "../../core/util/base64url.ts";
import { createSignalingServer } from "../../signaling-server/server.ts";
import { standardSockets } from "../../transports/websocket.ts";
import { describeSignalingSocket } from "./signaling-socket.suite.ts";

describeSignalingSocket("ws against the signaling server", async () => {
  const server = createSignalingServer({ port: 0 });
  await server.ready;
  const http = server.address().url;
  return {
    url: `${http.replace("http", "ws")}/signal`,
    deadUrl: `${http.replace("http", "ws")}/nowhere`,
    sockets: standardSockets(WebSocket),
    serverSockets: () => server.stats().sockets,
    close: () => server.close(),
  };
});

describeSignalingSocket("MemorySocketServer", async () => {
  const url = "ws://memory/signal";
  const server = new MemorySocketServer(url, serveSignaling);
  return {
    url,
    deadUrl: "ws://memory/nowhere",
    sockets: server.factory(),
    serverSockets: () => server.connected,
    close: async () => {},
  };
});

/** Just enough of the signaling server for the suite: challenge, join, ping, a signal to oneself. */
function serveSignaling(socket: MemoryServerSocket): void {
  const nonce = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  let self: string | null = null;
  let queue = Promise.resolve();
  socket.send(encodeMessage({ type: "challenge", protocol: SIGNALING_PROTOCOL, nonce }));
  const error = (code: "bad-signature" | "not-joined" | "bad-message", message: string) =>
    socket.send(encodeMessage({ type: "error", code, message }));
  // One message at a time, in order, like the real server.
  socket.onMessage = (text) => {
    queue = queue.then(async () => {
      const parsed = parseClientMessage(text);
      if (!parsed.ok) return error("bad-message", parsed.reason);
      const m = parsed.message;
      if (m.type === "join") {
        const proof = joinChallengeBytes(nonce, m.room, m.session, m.publicKey);
        if (!(await verifySignature(m.publicKey, proof, m.signature))) {
          error("bad-signature", "the signature does not prove this key signed this socket's challenge");
          socket.close(1008, "bad-signature");
          return;
        }
        self = peerAddress(await peerIdFromPublicKey(m.publicKey), m.session);
        socket.send(encodeMessage({ type: "joined", room: m.room, self, peers: [], iceServers: [] }));
      } else if (!self) error("not-joined", "join a room first");
      else if (m.type === "ping") socket.send(encodeMessage({ type: "pong" }));
      else if (m.to === self) socket.send(encodeMessage({ type: "signal", from: self, data: m.data }));
    });
  };
}
