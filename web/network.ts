// Wires this tab into the network: its identity, the signaling servers, WebRTC
// links, the shared document (kept in IndexedDB) and its presence.
import type { Identity } from "../core/crypto/identity.ts";
import type { IceServer } from "../core/net/ice-servers.ts";
import type { PeerAddress } from "../core/net/peer-address.ts";
import { randomSession, SignalingClient } from "../core/net/signaling-client.ts";
import { SIGNALING_PATH } from "../core/net/signaling-protocol.ts";
import type { Link, LinkEvents, LinkFactory, LinkRoute } from "../core/net/transport.ts";
import { PeerNode, type PresenceFields } from "../core/peer/peer-node.ts";
import type { KeyValueStore } from "../core/state/storage.ts";
import { StorePersistence } from "../core/state/store-persistence.ts";
import { systemClock } from "../core/util/clock.ts";
import { simplePeerLinks } from "../transports/simple-peer-link.ts";
import { standardSockets } from "../transports/websocket.ts";
import type { CreditRules } from "./credit-rules.ts";
import { IdbStore } from "./idb-store.ts";
import { type NetworkSettings, settingsFromSaved } from "./network-settings.ts";

export type { NetworkSettings };

const SETTINGS_KEY = "network-settings";

export async function loadNetworkSettings(store: KeyValueStore): Promise<NetworkSettings> {
  return settingsFromSaved(
    await store.get(SETTINGS_KEY),
    new URLSearchParams(location.search).get("network"),
  );
}

export function saveNetworkSettings(store: KeyValueStore, settings: NetworkSettings): Promise<void> {
  return store.set(SETTINGS_KEY, settings);
}

/** The signaling servers to try, in order: the user's, or this site's own. */
export function signalingUrls(settings: NetworkSettings): string[] {
  if (settings.serverUrls.length > 0) return settings.serverUrls;
  const url = new URL(SIGNALING_PATH.slice(1), document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return [url.href];
}

/**
 * Keeps the links a factory made until they close, so the page can ask how
 * one peer's link travels (through TURN or not).
 */
function routeTracking(base: LinkFactory): {
  factory: LinkFactory;
  route(remote: PeerAddress): Promise<LinkRoute>;
} {
  const live = new Map<PeerAddress, Set<Link>>();
  const factory: LinkFactory = {
    create(o) {
      let link: Link | null = null;
      const forget = () => {
        const set = link && live.get(o.remote);
        if (!set || !link) return;
        set.delete(link);
        if (set.size === 0) live.delete(o.remote);
      };
      const outer = o.events;
      const events: LinkEvents = {
        open: () => outer.open(),
        message: (data) => outer.message(data),
        signal: (data) => outer.signal(data),
        close: (reason) => {
          forget();
          outer.close(reason);
        },
        ...(outer.channel && { channel: (channel) => outer.channel?.(channel) }),
      };
      const made = base.create({ ...o, events });
      link = made;
      const set = live.get(o.remote) ?? new Set<Link>();
      set.add(made);
      live.set(o.remote, set);
      return made;
    },
  };
  return {
    factory,
    async route(remote) {
      // An older attempt may still be closing: the first that knows its route answers.
      for (const link of live.get(remote) ?? []) {
        const route = (await link.route?.()) ?? "unknown";
        if (route !== "unknown") return route;
      }
      return "unknown";
    },
  };
}

/** Links that use the user's ICE servers when set, else the server's. */
function linksWithIce(base: LinkFactory, iceServers: IceServer[] | null): LinkFactory {
  return iceServers ? { create: (o) => base.create({ ...o, iceServers }) } : base;
}

export interface Network {
  node: PeerNode;
  signaling: SignalingClient;
  settings: NetworkSettings;
  /** How the link to `remote` travels: "relayed" through a TURN server, "direct", or "unknown" (no open link). */
  linkRoute(remote: PeerAddress): Promise<LinkRoute>;
  stop(): void;
}

export function startNetwork(
  identity: Identity,
  settings: NetworkSettings,
  rules: CreditRules,
  presence: () => PresenceFields,
): Network {
  const signaling = new SignalingClient({
    url: signalingUrls(settings),
    room: settings.room,
    identity,
    session: randomSession(),
    socketFactory: standardSockets(WebSocket),
    clock: systemClock,
  });
  const links = routeTracking(
    linksWithIce(simplePeerLinks({ relayOnly: settings.relayOnly }), settings.iceServers),
  );
  const node = new PeerNode({
    identity,
    signaling,
    linkFactory: links.factory,
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
    linkRoute: (remote) => links.route(remote),
    stop() {
      window.removeEventListener("online", online);
      node.stop();
      persistence.dispose();
    },
  };
}
