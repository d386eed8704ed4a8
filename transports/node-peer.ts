// A peer that runs in Node instead of a browser tab: the same core PeerNode
// (signaling, mesh, shared document, presence, directory), with `ws` for
// signaling and node-datachannel (through simple-peer's polyfill) for WebRTC.
// The headless contributor (contributor.ts) hosts VMs on it; the end-to-end
// tests use it to show a Node peer joining the browsers' network.
import WebSocket from "ws";
import type { Identity } from "../core/crypto/identity.ts";
import type { IceServer } from "../core/net/ice-servers.ts";
import { randomSession, SignalingClient } from "../core/net/signaling-client.ts";
import type { LinkFactory } from "../core/net/transport.ts";
import { PeerNode, type PeerNodeOptions, type PresenceFields } from "../core/peer/peer-node.ts";
import type { KeyValueStore } from "../core/state/storage.ts";
import { StorePersistence } from "../core/state/store-persistence.ts";
import { systemClock } from "../core/util/clock.ts";
import { simplePeerLinks } from "./simple-peer-link.ts";
import { standardSockets } from "./websocket.ts";

export interface NodePeerOptions {
  /** ws(s)://host:port/signal, or several instances of the server (tried in turn). */
  url: string | readonly string[];
  room: string;
  identity: Identity;
  presence: () => PresenceFields;
  /** More of PeerNode's options (quotas, intervals). */
  peer?: Partial<Omit<PeerNodeOptions, "identity" | "signaling" | "linkFactory" | "clock" | "presence">>;
  /** The identity stamp's difficulty (tests lower it); passed on only when set. */
  stampBits?: number;
  /** Where the shared state is kept across restarts (read back, verified, before joining). */
  state?: KeyValueStore;
  /** STUN/TURN servers (TURN with username and credential) to use instead of the signaling server's. */
  iceServers?: IceServer[];
  /** Link only through a TURN relay (iceTransportPolicy "relay"): peers never see this machine's addresses. */
  relayOnly?: boolean;
}

/**
 * node-datachannel's polyfill writes TURN credentials into the URL it hands
 * libdatachannel (turn:user:pass@host), which URL-decodes them: a REST username
 * has a ':' (expiry:peer) and a base64 password may have '/' or '+', so both go
 * percent-encoded, or libdatachannel splits them in the wrong place.
 */
export function forNodeDatachannel(servers: IceServer[]): IceServer[] {
  return servers.map((s) =>
    s.username === undefined || s.credential === undefined
      ? s
      : { ...s, username: encodeURIComponent(s.username), credential: encodeURIComponent(s.credential) },
  );
}

/** WebRTC links for Node: the given ICE servers or the server's, encoded for node-datachannel. */
export function nodeLinks(options: Pick<NodePeerOptions, "iceServers" | "relayOnly"> = {}): LinkFactory {
  const base = simplePeerLinks({ relayOnly: options.relayOnly ?? false });
  return {
    create: (o) => base.create({ ...o, iceServers: forNodeDatachannel(options.iceServers ?? o.iceServers) }),
  };
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
    ...options.peer,
    ...(options.stampBits === undefined ? {} : { stampBits: options.stampBits }),
    identity: options.identity,
    signaling,
    linkFactory: nodeLinks(options),
    clock: systemClock,
    presence: options.presence,
  });
  const persistence = options.state ? new StorePersistence(node.store, options.state) : null;
  void persistence?.load();
  node.start();
  return {
    node,
    signaling,
    stop() {
      node.stop();
      persistence?.dispose();
    },
  };
}
