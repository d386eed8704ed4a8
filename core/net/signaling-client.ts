// The client side of signaling: connects, proves its identity, keeps the room's
// member list, relays connection set-up data, and reconnects with backoff when
// the server or the network drops. The WebSocket is injected (the browser's, or
// `ws` in Node), as is time.

import { type Identity, sign } from "../crypto/identity.ts";
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { type PeerAddress, peerAddress } from "./peer-address.ts";
import { ServerPing } from "./server-ping.ts";
import {
  type ClientMessage,
  encodeMessage,
  type IceServer,
  joinChallengeBytes,
  type PeerInfo,
  parseServerMessage,
} from "./signaling-protocol.ts";
import type { SignalingEvents, SignalingLike } from "./signaling-types.ts";

/** The part of a WebSocket the client uses. */
export interface SocketLike {
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

export interface SocketHandlers {
  open(): void;
  message(text: string): void;
  close(code: number, reason: string): void;
}

export type SocketFactory = (url: string, handlers: SocketHandlers) => SocketLike;

export type SignalingState = "connecting" | "joined" | "waiting" | "stopped";

export interface SignalingStatus {
  state: SignalingState;
  /** The server URL in use (connecting or joined) or to be tried next (waiting). */
  url: string;
  /** When state is "waiting": when the next attempt starts (clock ms). */
  retryAtMs?: number;
  /** The last problem, for the UI. */
  lastError?: string;
  /** Connection attempts since the last successful join. */
  failures: number;
}

export interface SignalingClientOptions {
  /**
   * The server, or several instances of it (sharing rooms): after a lost
   * connection or a server shutting down, the next attempt goes to the next
   * one, round robin.
   */
  url: string | readonly string[];
  room: string;
  identity: Identity;
  session: string;
  socketFactory: SocketFactory;
  clock: Clock;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * The first retry after a joined socket closed comes within twice this
   * (random, so a server's peers do not all come back at once); default 250.
   */
  quickRetryMs?: number;
  /** How often to ping the server, and how long to wait for the answer. */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  random?: () => number;
}

interface ClientEvents extends SignalingEvents {
  status: (status: SignalingStatus) => void;
}

export function randomSession(random = crypto.getRandomValues.bind(crypto)): string {
  const bytes = random(new Uint8Array(6));
  return Array.from(
    bytes,
    (b) => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[b & 63],
  ).join("");
}

export class SignalingClient implements SignalingLike {
  readonly self: PeerAddress;
  private readonly events = new Emitter<ClientEvents>();
  private socket: SocketLike | null = null;
  private memberMap = new Map<PeerAddress, PeerInfo>();
  private ice: IceServer[] = [];
  private readonly urls: readonly string[];
  private urlIndex = 0;
  /** Whether the first retry since the last join was a quick one (the backoff starts after it). */
  private quickUsed = false;
  private state: SignalingStatus;
  private cancelRetry: (() => void) | null = null;
  private readonly ping: ServerPing;
  /** Distinguishes the current socket's callbacks from stale ones. */
  private generation = 0;

  constructor(private readonly options: SignalingClientOptions) {
    this.self = peerAddress(options.identity.peerId, options.session);
    this.urls = typeof options.url === "string" ? [options.url] : [...options.url];
    if (this.urls.length === 0) throw new Error("the signaling client needs at least one server URL");
    this.state = { state: "stopped", url: this.urls[0]!, failures: 0 };
    this.ping = new ServerPing({
      clock: options.clock,
      intervalMs: options.pingIntervalMs ?? 15_000,
      timeoutMs: options.pingTimeoutMs ?? 10_000,
      send: () => this.send({ type: "ping" }),
      silent: () => {
        this.dropSocket("the server stopped answering");
        this.lost("the server stopped answering");
      },
    });
  }

  on<K extends keyof ClientEvents>(event: K, handler: ClientEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  status(): SignalingStatus {
    return { ...this.state };
  }

  members(): PeerInfo[] {
    return [...this.memberMap.values()];
  }

  iceServers(): IceServer[] {
    return this.ice;
  }

  start(): void {
    if (this.state.state !== "stopped") return;
    this.connect();
  }

  stop(): void {
    this.generation++;
    this.clearTimers();
    this.socket?.close(1000, "leaving");
    this.socket = null;
    this.memberMap.clear();
    this.setStatus({ state: "stopped", url: this.url(), failures: 0 });
  }

  sendSignal(to: PeerAddress, data: object): boolean {
    if (this.state.state !== "joined" || !this.memberMap.has(to)) return false;
    return this.send({ type: "signal", to, data });
  }

  /** Skips the wait before the next attempt (e.g. the network came back). */
  reconnectNow(): void {
    if (this.state.state !== "waiting") return;
    this.dropSocket("reconnecting on request");
    this.connect();
  }

  private send(message: ClientMessage): boolean {
    if (!this.socket) return false;
    try {
      this.socket.send(encodeMessage(message));
      return true;
    } catch {
      return false;
    }
  }

  private connect(): void {
    this.clearTimers();
    const generation = ++this.generation;
    const url = this.url();
    this.setStatus({ ...this.state, state: "connecting", url, retryAtMs: undefined });
    const live = () => generation === this.generation;
    try {
      this.socket = this.options.socketFactory(url, {
        open: () => {},
        message: (text) => {
          if (live()) void this.receive(text, generation);
        },
        close: (code, reason) => {
          if (live()) this.lost(`connection closed (${code}${reason ? `: ${reason}` : ""})`);
        },
      });
    } catch (err) {
      this.lost(`could not connect: ${String(err)}`);
    }
  }

  private async receive(text: string, generation: number): Promise<void> {
    const message = parseServerMessage(text);
    if (!message) return; // malformed: ignore
    switch (message.type) {
      case "challenge": {
        const { identity, room, session } = this.options;
        const signature = await sign(
          identity,
          joinChallengeBytes(message.nonce, room, session, identity.publicKey),
        );
        if (generation === this.generation) {
          this.send({ type: "join", room, session, publicKey: identity.publicKey, signature });
        }
        return;
      }
      case "joined": {
        const before = this.memberMap;
        this.memberMap = new Map(message.peers.map((p) => [p.peer, p]));
        this.ice = message.iceServers;
        this.quickUsed = false;
        this.setStatus({ state: "joined", url: this.url(), failures: 0 });
        this.ping.start();
        // Members who left while we were away.
        for (const peer of before.keys()) if (!this.memberMap.has(peer)) this.events.emit("peer-left", peer);
        this.events.emit("joined", message.peers);
        return;
      }
      case "peer-joined":
        this.memberMap.set(message.peer.peer, message.peer);
        this.events.emit("peer-joined", message.peer);
        return;
      case "peer-left":
        if (this.memberMap.delete(message.peer)) this.events.emit("peer-left", message.peer);
        return;
      case "signal":
        this.events.emit("signal", message.from, message.data as object);
        return;
      case "pong":
        this.ping.pong();
        return;
      case "ice-servers":
        this.ice = message.iceServers; // fresh TURN credentials: links made from now on use them
        return;
      case "error":
        this.state = { ...this.state, lastError: `${message.code}: ${message.message}` };
        this.events.emit("status", this.status());
        if (message.code === "shutting-down" && generation === this.generation) {
          // This instance is going: on to the next one now, not after its close handshake.
          this.dropSocket("the server is shutting down");
          this.lost(`${message.code}: ${message.message}`);
        }
        return;
    }
  }

  private dropSocket(reason: string): void {
    this.generation++;
    this.socket?.close(4001, reason);
    this.socket = null;
  }

  private url(): string {
    return this.urls[this.urlIndex % this.urls.length]!;
  }

  /**
   * The connection is gone: try the next server URL, soon if this socket had
   * joined, else after a backoff that grows with each failure.
   */
  private lost(reason: string): void {
    this.socket = null;
    this.clearTimers();
    if (this.state.state === "stopped") return;
    const wasJoined = this.state.state === "joined";
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    const failures = this.state.failures + 1;
    const random = this.options.random ?? Math.random;
    let delayMs: number;
    if (wasJoined) {
      this.quickUsed = true;
      delayMs = Math.round((this.options.quickRetryMs ?? 250) * 2 * random());
    } else {
      const initial = this.options.initialBackoffMs ?? 500;
      const max = this.options.maxBackoffMs ?? 30_000;
      const step = Math.max(0, failures - 1 - (this.quickUsed ? 1 : 0));
      const base = Math.min(max, initial * 2 ** Math.min(step, 16));
      delayMs = Math.round(base * (0.75 + random() * 0.5));
    }
    const { clock } = this.options;
    this.setStatus({
      state: "waiting",
      url: this.url(),
      retryAtMs: clock.nowMs() + delayMs,
      lastError: reason,
      failures,
    });
    this.cancelRetry = clock.after(delayMs, () => {
      this.cancelRetry = null;
      this.connect();
    });
  }

  private clearTimers(): void {
    this.cancelRetry?.();
    this.cancelRetry = null;
    this.ping.stop();
  }

  private setStatus(status: SignalingStatus): void {
    this.state = status;
    this.events.emit("status", this.status());
  }
}
