// In-memory twins of the network, for tests and simulations in one process: a
// signaling hub (rooms, members, relayed signals), links that pass bytes
// directly, and WebSockets to an in-process server. Deliveries are asynchronous
// (a microtask or a clock delay), like the real thing, so ordering bugs show up here too.
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { MemorySideChannel } from "./memory-side-channel.ts";
import type { SocketFactory, SocketHandlers, SocketLike } from "./signaling-client.ts";
import type { PeerInfo } from "./signaling-protocol.ts";
import type { SignalingEvents, SignalingLike } from "./signaling-types.ts";
import type { Link, LinkEvents, LinkFactory } from "./transport.ts";

type Deliver = (fn: () => void) => void;

function deliverer(clock: Clock | undefined, delayMs: number): Deliver {
  if (!clock || delayMs <= 0) return (fn) => queueMicrotask(fn);
  return (fn) => void clock.after(delayMs, fn);
}

/** One room's signaling, shared by every in-memory peer. */
export class MemorySignalingHub {
  private readonly members = new Map<string, MemorySignaling>();
  readonly deliver: Deliver;
  constructor(options: { clock?: Clock; delayMs?: number } = {}) {
    this.deliver = deliverer(options.clock, options.delayMs ?? 0);
  }

  /** A peer's view of the room; it joins when started. */
  connect(info: PeerInfo): MemorySignaling {
    return new MemorySignaling(this, info);
  }

  join(peer: MemorySignaling): PeerInfo[] {
    const others = [...this.members.values()].map((m) => m.info);
    this.members.set(peer.info.peer, peer);
    for (const other of this.members.values()) {
      if (other !== peer) this.deliver(() => other.emitPeerJoined(peer.info));
    }
    return others;
  }

  leave(peer: MemorySignaling): void {
    if (this.members.get(peer.info.peer) !== peer) return;
    this.members.delete(peer.info.peer);
    for (const other of this.members.values()) this.deliver(() => other.emitPeerLeft(peer.info.peer));
  }

  relay(from: string, to: string, data: object): boolean {
    const target = this.members.get(to);
    if (!target) return false;
    const copy = JSON.parse(JSON.stringify(data));
    this.deliver(() => target.emitSignal(from, copy));
    return true;
  }
}

export class MemorySignaling implements SignalingLike {
  private readonly events = new Emitter<SignalingEvents>();
  private readonly memberMap = new Map<string, PeerInfo>();
  private started = false;

  constructor(
    private readonly hub: MemorySignalingHub,
    readonly info: PeerInfo,
  ) {}

  get self(): string {
    return this.info.peer;
  }

  members(): PeerInfo[] {
    return [...this.memberMap.values()];
  }

  iceServers() {
    return [];
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const others = this.hub.join(this);
    for (const p of others) this.memberMap.set(p.peer, p);
    this.hub.deliver(() => this.emit("joined", others));
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.hub.leave(this);
    this.memberMap.clear();
  }

  sendSignal(to: string, data: object): boolean {
    return this.started && this.hub.relay(this.info.peer, to, data);
  }

  on<K extends keyof SignalingEvents>(event: K, handler: SignalingEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  emitPeerJoined(info: PeerInfo): void {
    if (!this.started) return;
    this.memberMap.set(info.peer, info);
    this.emit("peer-joined", info);
  }

  emitPeerLeft(peer: string): void {
    if (!this.started) return;
    this.memberMap.delete(peer);
    this.emit("peer-left", peer);
  }

  emitSignal(from: string, data: object): void {
    if (this.started) this.emit("signal", from, data);
  }

  private emit<K extends keyof SignalingEvents>(event: K, ...args: Parameters<SignalingEvents[K]>): void {
    this.events.emit(event, ...args);
  }
}

interface MemoryEnd {
  link: MemoryLink;
  events: LinkEvents;
}

/**
 * Links between in-memory peers. A link opens when both ends exist: the
 * initiator's "offer" signal (relayed by signaling like the real thing)
 * creates the pairing on the other side. Like a DTLS certificate, each end
 * has a random fingerprint of its own; the offer carries the initiator's, and
 * an offer whose fingerprint was changed on the way pairs with nothing (DTLS
 * would fail: the link hangs). Each end sees its own and its actual peer's,
 * so a relay that pairs A with M and M with B gives links whose fingerprints
 * are not those of a link between A and B.
 */
export class MemoryNetwork {
  private readonly pending = new Map<string, MemoryEnd>();
  readonly deliver: Deliver;
  /** Pairs of links made and not yet closed (each pair counts once), for tests. */
  openLinks = 0;

  constructor(options: { clock?: Clock; delayMs?: number } = {}) {
    this.deliver = deliverer(options.clock, options.delayMs ?? 0);
  }

  factory(self: string): LinkFactory {
    return {
      create: ({ remote, initiator, events }) => {
        const link = new MemoryLink(this, self, remote, events);
        if (initiator) {
          const token = `${self}>${remote}#${Math.random().toString(36).slice(2)}`;
          this.pending.set(token, { link, events });
          // A link closed in the meantime reports nothing more, like a real one.
          this.deliver(() => {
            if (link.isNew()) events.signal({ memory: token, fingerprint: link.fingerprint });
          });
        }
        return link;
      },
    };
  }

  /** The answering end got the initiator's token: pair them up. */
  pair(answerer: MemoryLink, token: string, fingerprint: unknown): void {
    const offer = this.pending.get(token);
    if (!offer || offer.link.fingerprint !== fingerprint) return;
    this.pending.delete(token);
    answerer.peer = offer.link;
    offer.link.peer = answerer;
    answerer.paired(offer.link.fingerprint);
    offer.link.paired(answerer.fingerprint);
    this.openLinks++;
    this.deliver(() => {
      answerer.markOpen();
      offer.link.markOpen();
    });
  }

  forget(link: MemoryLink): void {
    for (const [token, end] of this.pending) if (end.link === link) this.pending.delete(token);
  }
}

/** A fingerprint like a DTLS certificate's: 32 random bytes. */
function randomFingerprint(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `sha-256 ${[...bytes].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":")}`;
}

export class MemoryLink implements Link {
  peer: MemoryLink | null = null;
  /** This end's own fingerprint. */
  readonly fingerprint = randomFingerprint();
  private remoteFingerprint: string | null = null;
  private state: "new" | "open" | "closed" = "new";
  /** Side channels on this link, closed with it. */
  private readonly sides = new Set<MemorySideChannel>();

  constructor(
    private readonly network: MemoryNetwork,
    readonly self: string,
    readonly remote: string,
    private readonly events: LinkEvents,
  ) {}

  isNew(): boolean {
    return this.state === "new";
  }

  /** Paired with the end whose fingerprint is `remote`. */
  paired(remote: string): void {
    this.remoteFingerprint = remote;
  }

  fingerprints(): { local: string; remote: string } | null {
    return this.remoteFingerprint === null
      ? null
      : { local: this.fingerprint, remote: this.remoteFingerprint };
  }

  markOpen(): void {
    if (this.state !== "new") return;
    this.state = "open";
    this.events.open();
  }

  send(data: Uint8Array): boolean {
    const peer = this.peer;
    if (this.state !== "open" || !peer) return false;
    const copy = data.slice();
    this.network.deliver(() => peer.receive(copy));
    return true;
  }

  receive(data: Uint8Array): void {
    if (this.state === "open") this.events.message(data);
  }

  bufferedBytes(): number {
    return 0;
  }

  /** A side channel: the remote's end reaches its consumer, then both ends open. */
  openChannel(label: string): MemorySideChannel | null {
    const peer = this.peer;
    if (this.state !== "open" || !peer) return null;
    const [mine, theirs] = MemorySideChannel.pair(label, this.network.deliver);
    this.sides.add(mine);
    mine.on("close", () => this.sides.delete(mine));
    this.network.deliver(() => {
      if (!peer.acceptChannel(theirs)) return mine.close();
      mine.markOpen();
      theirs.markOpen();
    });
    return mine;
  }

  private acceptChannel(channel: MemorySideChannel): boolean {
    if (this.state !== "open") return false;
    this.sides.add(channel);
    channel.on("close", () => this.sides.delete(channel));
    this.events.channel?.(channel);
    return channel.peer !== null; // still connected: nobody closed it
  }

  signal(data: object): void {
    if (this.state === "closed") return;
    const { memory: token, fingerprint } = data as { memory?: unknown; fingerprint?: unknown };
    // A WebRTC link fed something that is not set-up data fails (simple-peer: ERR_SIGNALING).
    if (typeof token !== "string") this.shut("error: ERR_SIGNALING");
    else if (this.state === "new") this.network.pair(this, token, fingerprint);
  }

  close(): void {
    this.shut("closed locally");
  }

  shut(reason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.network.forget(this);
    const peer = this.peer;
    // A pair counts once: the first of its two ends to close takes it off.
    if (peer && peer.state !== "closed") this.network.openLinks--;
    this.peer = null;
    for (const side of [...this.sides]) side.close();
    this.events.close(reason);
    if (peer) this.network.deliver(() => peer.shut("closed by the remote"));
  }
}

/** The server's side of one in-memory socket. */
export interface MemoryServerSocket {
  readonly url: string;
  /** Sends a text frame to the client (dropped unless the socket is open). */
  send(text: string): void;
  /** Closes with a close frame; the client hears `code` and `reason`. */
  close(code: number, reason: string): void;
  /** Set by the server: a text frame from the client. */
  onMessage: (text: string) => void;
  /** Set by the server: the client closed (or went away). */
  onClose: (code: number, reason: string) => void;
}

/**
 * In-memory WebSockets to one server at `url`, following the browser's rules:
 * `open` comes before any message; `send` throws while connecting and is
 * dropped once closing; the close is reported once, to the side that closed
 * too, with the code of the close frame (1006 when there was none).
 */
export class MemorySocketServer {
  readonly deliver: Deliver;
  /** Sockets currently connected, for tests. */
  connected = 0;

  constructor(
    readonly url: string,
    private readonly serve: (socket: MemoryServerSocket) => void,
    options: { clock?: Clock; delayMs?: number } = {},
  ) {
    this.deliver = deliverer(options.clock, options.delayMs ?? 0);
  }

  factory(): SocketFactory {
    return (url, handlers) => new MemorySocket(this, url, handlers);
  }

  accept(client: MemorySocket): MemoryServerSocket {
    this.connected++;
    let open = true;
    const server: MemoryServerSocket = {
      url: client.url,
      send: (text) => {
        if (open) this.deliver(() => client.receive(text));
      },
      close: (code, reason) => {
        if (!open) return;
        open = false;
        this.connected--;
        this.deliver(() => client.closed(code, reason));
      },
      onMessage: () => {},
      onClose: () => {},
    };
    client.server = {
      receive: (text) => {
        if (open) server.onMessage(text);
      },
      closed: (code, reason) => {
        if (!open) return;
        open = false;
        this.connected--;
        server.onClose(code, reason);
      },
    };
    this.serve(server);
    return server;
  }
}

class MemorySocket implements SocketLike {
  private state: "connecting" | "open" | "closing" | "closed" = "connecting";
  server: { receive(text: string): void; closed(code: number, reason: string): void } | null = null;

  constructor(
    private readonly hub: MemorySocketServer,
    readonly url: string,
    private readonly handlers: SocketHandlers,
  ) {
    hub.deliver(() => {
      if (this.state !== "connecting") return;
      if (url !== hub.url) {
        this.closed(1006, "");
        return;
      }
      this.state = "open";
      handlers.open();
      hub.accept(this);
    });
  }

  send(text: string): void {
    if (this.state === "connecting") throw new Error("the socket is not open yet (CONNECTING)");
    const server = this.server;
    if (this.state !== "open" || !server) return;
    this.hub.deliver(() => server.receive(text));
  }

  close(code = 1000, reason = ""): void {
    if (code !== 1000 && (code < 3000 || code > 4999)) throw new Error(`invalid close code ${code}`);
    if (this.state === "connecting") {
      // Closed before the connection was made: no close frame, 1006.
      this.state = "closing";
      this.hub.deliver(() => this.closed(1006, ""));
      return;
    }
    if (this.state !== "open") return;
    this.state = "closing";
    const server = this.server;
    // The server answers the close frame with the same code; then the client hears it.
    this.hub.deliver(() => {
      server?.closed(code, reason);
      this.hub.deliver(() => this.closed(code, reason));
    });
  }

  receive(text: string): void {
    if (this.state === "open") this.handlers.message(text);
  }

  closed(code: number, reason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.server = null;
    this.handlers.close(code, reason);
  }
}
