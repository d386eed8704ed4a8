// Wires this tab into the network: its identity, the signaling server, WebRTC
// links, the shared document (kept in IndexedDB) and its presence.
import type { Identity } from "../core/crypto/identity.ts";
import { type IceServer, parseIceServers } from "../core/net/ice-servers.ts";
import { randomSession, SignalingClient } from "../core/net/signaling-client.ts";
import { SIGNALING_PATH } from "../core/net/signaling-protocol.ts";
import type { LinkFactory } from "../core/net/transport.ts";
import { PeerNode, type PresenceFields } from "../core/peer/peer-node.ts";
import type { KeyValueStore } from "../core/state/storage.ts";
import { StorePersistence } from "../core/state/store-persistence.ts";
import { systemClock } from "../core/util/clock.ts";
import { simplePeerLinks } from "../transports/simple-peer-link.ts";
import { standardSockets } from "../transports/websocket.ts";
import type { CreditRules } from "./credit-rules.ts";
import { IdbStore } from "./idb-store.ts";

export interface NetworkSettings {
  /** The network (signaling room) to join. */
  room: string;
  /** ws(s) URL of the signaling server; empty for this site's own. */
  serverUrl: string;
  /** ICE servers to use instead of the server's; null to use the server's. */
  iceServers: IceServer[] | null;
}

const SETTINGS_KEY = "network-settings";
export const DEFAULT_SETTINGS: NetworkSettings = { room: "main", serverUrl: "", iceServers: null };

export async function loadNetworkSettings(store: KeyValueStore): Promise<NetworkSettings> {
  const saved = (await store.get(SETTINGS_KEY)) as Partial<NetworkSettings> | undefined;
  const fromUrl = new URLSearchParams(location.search).get("network");
  // A saved list that no longer parses falls back to the server's ICE servers.
  const ice = parseIceServers(saved?.iceServers);
  return {
    room: fromUrl || (typeof saved?.room === "string" && saved.room) || DEFAULT_SETTINGS.room,
    serverUrl: typeof saved?.serverUrl === "string" ? saved.serverUrl : "",
    iceServers: ice.ok ? ice.servers : null,
  };
}

export function saveNetworkSettings(store: KeyValueStore, settings: NetworkSettings): Promise<void> {
  return store.set(SETTINGS_KEY, settings);
}

export function signalingUrl(settings: NetworkSettings): string {
  if (settings.serverUrl) return settings.serverUrl;
  const url = new URL(SIGNALING_PATH.slice(1), document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** Links that use the user's ICE servers when set, else the server's. */
function linksWithIce(base: LinkFactory, iceServers: IceServer[] | null): LinkFactory {
  return iceServers ? { create: (o) => base.create({ ...o, iceServers }) } : base;
}

export interface Network {
  node: PeerNode;
  signaling: SignalingClient;
  settings: NetworkSettings;
  stop(): void;
}

export function startNetwork(
  identity: Identity,
  settings: NetworkSettings,
  rules: CreditRules,
  presence: () => PresenceFields,
): Network {
  const signaling = new SignalingClient({
    url: signalingUrl(settings),
    room: settings.room,
    identity,
    session: randomSession(),
    socketFactory: standardSockets(WebSocket),
    clock: systemClock,
  });
  const node = new PeerNode({
    identity,
    signaling,
    linkFactory: linksWithIce(simplePeerLinks(), settings.iceServers),
    clock: systemClock,
    presence,
    stampBits: rules.stampBits,
  });
  // The shared state is kept in IndexedDB per room, and read back (verified) on start.
  const persistence = new StorePersistence(node.store, new IdbStore(`spare-cycles-state-${settings.room}`));
  void persistence.load();
  node.start();
  // Back online: do not wait for the backoff.
  const online = () => signaling.reconnectNow();
  window.addEventListener("online", online);
  return {
    node,
    signaling,
    settings,
    stop() {
      window.removeEventListener("online", online);
      node.stop();
      persistence.dispose();
    },
  };
}
