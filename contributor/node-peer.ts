// A peer that runs in Node instead of a browser tab: the same core PeerNode
// (signaling, mesh, shared document, presence, directory), with `ws` for
// signaling and node-datachannel (through simple-peer's polyfill) for WebRTC.
// The end-to-end tests use it to show a Node peer joining the browsers' network.
// It hosts no VMs: the headless contributor of the design (VMs in worker_threads
// at nice 19) does not exist yet, and would start from this.
import WebSocket from "ws";
import type { Identity } from "../core/crypto/identity.ts";
import { randomSession, SignalingClient } from "../core/net/signaling-client.ts";
import { PeerNode, type PresenceFields } from "../core/peer/peer-node.ts";
import { systemClock } from "../core/util/clock.ts";
import { simplePeerLinks } from "../transports/simple-peer-link.ts";
import { standardSockets } from "../transports/websocket.ts";

export interface NodePeerOptions {
  /** ws(s)://host:port/signal */
  url: string;
  room: string;
  identity: Identity;
  presence: () => PresenceFields;
}

export interface NodePeer {
  node: PeerNode;
  signaling: SignalingClient;
  stop(): void;
}

export function startNodePeer(options: NodePeerOptions): NodePeer {
  const signaling = new SignalingClient({
    url: options.url,
    room: options.room,
    identity: options.identity,
    session: randomSession(),
    socketFactory: standardSockets(WebSocket),
    clock: systemClock,
  });
  const node = new PeerNode({
    identity: options.identity,
    signaling,
    linkFactory: simplePeerLinks(),
    clock: systemClock,
    presence: options.presence,
  });
  node.start();
  return { node, signaling, stop: () => node.stop() };
}
