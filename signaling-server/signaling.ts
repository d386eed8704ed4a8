// Rooms, the join proof and the relay: what the server does with a WebSocket
// once the HTTP side (server.ts) has let it in (admission.ts counts it in).
// Every socket gets a nonce, must join a room by signing it, and may then send
// signals to members of its room only. One sweep timer (heartbeat, join
// timeout, stuck closes) and one set of listeners serve every socket; per
// socket there are a few integer fields (connection.ts).
import { randomFillSync } from "node:crypto";
import type { Duplex } from "node:stream";
import type WebSocket from "ws";
import type { RawData } from "ws";
import { peerAddress } from "../core/net/peer-address.ts";
import {
  type ClientMessage,
  type ErrorCode,
  encodeMessage,
  joinChallengeBytes,
  type PeerInfo,
  parseClientMessage,
  SIGNALING_PROTOCOL,
} from "../core/net/signaling-protocol.ts";
import { Admission } from "./admission.ts";
import { CHALLENGED, CLOSE, CLOSED, type Connection, JOINED, OPEN } from "./connection.ts";
import type { SignalingLimits } from "./limits.ts";
import type { Metrics, RejectReason } from "./metrics.ts";
import { fillBucket, type RateVerdict, takeToken } from "./rate-limit.ts";
import { peerIdOfKey, verifyEd25519 } from "./verify.ts";

export interface Room {
  name: string;
  members: Map<string, Connection>;
}

/** After `ws` closes a socket for a bad frame: time for the close frame to go out before the cut. */
const ERROR_CLOSE_GRACE_MS = 500;

export interface HubStats {
  /** WebSockets the hub holds (including ones whose close handshake is under way). */
  sockets: number;
  rooms: number;
  peers: number;
  /** Raw sockets admitted at the upgrade and not yet closed. */
  admitted: number;
  /** Distinct addresses (IPv6: /64 prefixes) with an admitted socket. */
  ips: number;
}

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}

export class SignalingHub {
  private readonly conns = new Set<Connection>();
  private readonly rooms = new Map<string, Room>();
  private readonly admission: Admission;
  private peers = 0;
  private closing = false;
  private readonly epoch = Date.now();
  private readonly sweepTimer: ReturnType<typeof setInterval>;
  private onDrained: (() => void) | null = null;
  // One listener of each kind for all sockets (`this` is the socket).
  private readonly listeners: {
    message: (this: WebSocket, data: RawData, isBinary: boolean) => void;
    pong: (this: WebSocket) => void;
    error: (this: WebSocket, err: Error & { code?: string }) => void;
    close: (this: WebSocket) => void;
  };

  constructor(
    private readonly limits: SignalingLimits,
    private readonly metrics: Metrics,
  ) {
    const shortest = Math.min(limits.heartbeatIntervalMs, limits.heartbeatTimeoutMs, limits.joinTimeoutMs);
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(10, Math.min(1000, shortest / 4)));
    this.sweepTimer.unref();
    const onMessage = (c: Connection, data: RawData, isBinary: boolean) => this.onMessage(c, data, isBinary);
    const onError = (c: Connection, err: Error & { code?: string }) => this.onError(c, err);
    const onClose = (c: Connection) => this.onClose(c);
    this.admission = new Admission(limits, () => this.checkDrained());
    this.listeners = {
      message(data, isBinary) {
        onMessage(this as Connection, data, isBinary);
      },
      pong() {
        (this as Connection).pingSentAt = -1;
      },
      error(err) {
        onError(this as Connection, err);
      },
      close() {
        onClose(this as Connection);
      },
    };
  }

  stats(): HubStats {
    return {
      sockets: this.conns.size,
      rooms: this.rooms.size,
      peers: this.peers,
      admitted: this.admission.admitted,
      ips: this.admission.ips,
    };
  }

  private now(): number {
    return Date.now() - this.epoch;
  }

  /**
   * At the HTTP upgrade, before the WebSocket exists: counts the raw socket
   * against the limits, or says why it is refused. The count is released when
   * the WebSocket closes (accept), or when the socket closes (refused handshake).
   */
  admit(ip: string): RejectReason | null {
    if (this.closing) return "shutting-down";
    return this.admission.admit(ip);
  }

  /** An admitted socket whose WebSocket handshake did not complete (yet): counted until it closes. */
  countUntilClosed(socket: Duplex, ip: string): void {
    this.admission.countUntilClosed(socket, ip);
  }

  /** A WebSocket whose handshake completed on `raw` (admitted under `ip`): challenge it. */
  accept(conn: Connection, raw: Duplex, ip: string): void {
    this.admission.handOver(raw);
    const now = this.now();
    const nonce = randomFillSync(nonceScratch).toString("base64url");
    conn.challenge(raw, ip, nonce, now, now + this.limits.joinTimeoutMs);
    fillBucket(conn, this.limits, now);
    this.conns.add(conn);
    conn.on("message", this.listeners.message);
    conn.on("pong", this.listeners.pong);
    conn.on("error", this.listeners.error);
    conn.on("close", this.listeners.close);
    if (this.closing) {
      this.shutDown(conn);
      return;
    }
    this.send(conn, encodeMessage({ type: "challenge", protocol: SIGNALING_PROTOCOL, nonce: conn.nonce }));
  }

  /**
   * Graceful shutdown: every socket is told and closed with 1001, gets
   * `graceMs` to finish its close handshake, then whatever is left is cut.
   */
  async close(graceMs: number): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      clearInterval(this.sweepTimer);
      for (const conn of this.conns) this.shutDown(conn);
      this.rooms.clear();
      this.peers = 0;
    }
    // Clients that answer the close frame are gone within the grace period; then the rest are cut.
    await this.drained(graceMs);
    for (const conn of this.conns) conn.terminate();
    // Cut sockets report their close a few ticks later.
    await this.drained(1_000);
  }

  /** Resolves when no socket is left, or after `ms`. */
  private async drained(ms: number): Promise<void> {
    if (this.conns.size === 0 && this.admission.admitted === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.onDrained = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.onDrained = null;
  }

  private checkDrained(): void {
    if (this.onDrained && this.conns.size === 0 && this.admission.admitted === 0) this.onDrained();
  }

  private shutDown(conn: Connection): void {
    if (conn.state === CLOSED) return;
    // Everyone is leaving: no peer-left announcements.
    conn.room = null;
    this.send(conn, SHUTTING_DOWN);
    this.metrics.reject("shutting-down");
    conn.markClosed(0);
    conn.close(CLOSE.GOING_AWAY, "shutting-down");
  }

  private onError(conn: Connection, err: Error & { code?: string }): void {
    // `ws` closes the socket itself (1009 for an oversize message, 1007/1002 for bad frames).
    // It stops reading the socket then, so the close handshake cannot finish: cut it soon.
    this.metrics.reject(err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" ? "too-large" : "bad-message");
    this.detach(conn, true);
    conn.markClosed(this.now() + ERROR_CLOSE_GRACE_MS);
  }

  private onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    if (conn.state === CLOSED) return;
    this.metrics.received += 1;
    const verdict = takeToken(conn, this.limits, this.now());
    if (verdict !== "ok") {
      this.overLimit(conn, verdict);
      return;
    }
    if (isBinary) {
      this.strike(conn, "bad-message", "binary frames are not accepted: send JSON text", "binary");
      return;
    }
    const parsed = parseClientMessage(text(data));
    if (!parsed.ok) {
      this.strike(conn, parsed.code as "bad-json" | "bad-message", parsed.reason);
      return;
    }
    const message = parsed.message;
    if (message.type === "join") {
      if (conn.state === CHALLENGED) this.join(conn, message);
      else this.strike(conn, "already-joined", "one room per socket: this socket has joined");
      return;
    }
    if (conn.state !== JOINED) {
      this.strike(conn, "not-joined", "join a room first");
      return;
    }
    if (message.type === "signal") this.relay(conn, message.to, message.data);
    else this.send(conn, PONG);
  }

  private overLimit(conn: Connection, verdict: Exclude<RateVerdict, "ok">): void {
    this.metrics.reject("rate-limited");
    if (verdict === "flood") {
      this.metrics.reject("flood");
      this.error(conn, "rate-limited", "flooding: closing");
      this.drop(conn, CLOSE.POLICY, "flooding");
    } else if (verdict === "drop-and-tell") {
      const { messagesPerSecond, burst } = this.limits;
      this.error(conn, "rate-limited", `over ${messagesPerSecond}/s (burst ${burst}): messages dropped`);
      this.countStrike(conn);
    }
  }

  private strike(
    conn: Connection,
    code: ErrorCode & RejectReason,
    message: string,
    reason: RejectReason = code,
  ): void {
    this.metrics.reject(reason);
    this.error(conn, code, message);
    this.countStrike(conn);
  }

  private countStrike(conn: Connection): void {
    conn.strikes += 1;
    if (conn.strikes >= this.limits.maxStrikes && conn.state !== CLOSED) {
      this.metrics.reject("strikes");
      this.drop(conn, CLOSE.POLICY, "too many invalid messages");
    }
  }

  private join(conn: Connection, m: Extract<ClientMessage, { type: "join" }>): void {
    const proof = joinChallengeBytes(conn.nonce, m.room, m.session, m.publicKey);
    const peerId = verifyEd25519(m.publicKey, proof, m.signature) ? peerIdOfKey(m.publicKey) : null;
    if (peerId === null) {
      this.metrics.reject("bad-signature");
      this.error(
        conn,
        "bad-signature",
        "the signature does not prove this key signed this socket's challenge",
      );
      this.drop(conn, CLOSE.POLICY, "bad-signature");
      return;
    }
    const address = peerAddress(peerId, m.session);
    let room = this.rooms.get(m.room);
    const previous = room?.members.get(address);
    if (!room) {
      if (this.rooms.size >= this.limits.maxRooms) {
        this.metrics.reject("too-many-rooms");
        this.error(conn, "too-many-rooms", "the server holds as many rooms as it may");
        return;
      }
      room = { name: m.room, members: new Map() };
      this.rooms.set(m.room, room);
    } else if (!previous && room.members.size >= this.limits.peersPerRoom) {
      this.metrics.reject("room-full");
      this.error(conn, "room-full", `the room has ${this.limits.peersPerRoom} peers`);
      return;
    }
    if (previous) {
      // The same key and session again (a reconnect): the new socket takes the address over.
      this.detach(previous, false);
      this.drop(previous, CLOSE.REPLACED, "replaced");
    }
    const peers: PeerInfo[] = [];
    for (const member of room.members.values())
      peers.push({ peer: member.address, publicKey: member.publicKey });
    room.members.set(address, conn);
    this.peers += 1;
    conn.join(room, address, m.publicKey);
    this.metrics.joins += 1;
    const iceServers = this.limits.iceServers;
    this.send(conn, encodeMessage({ type: "joined", room: m.room, self: address, peers, iceServers }));
    const joined = encodeMessage({ type: "peer-joined", peer: { peer: address, publicKey: m.publicKey } });
    this.broadcast(room, conn, joined);
  }

  private relay(from: Connection, to: string, data: unknown): void {
    const target = from.room?.members.get(to);
    if (!target) {
      this.metrics.reject("unknown-peer");
      this.error(from, "unknown-peer", `no peer ${to} in this room`);
      return;
    }
    // The same bytes as encodeMessage({type: "signal", from, data}) without building that object
    // (an address is only letters, digits, "_", "-" and ".": nothing to escape).
    const text = `{"type":"signal","from":"${from.address}","data":${JSON.stringify(data)}}`;
    if (this.send(target, text)) this.metrics.relayed += 1;
  }

  /** Sends `text` to every member of `room` but `except`. */
  private broadcast(room: Room, except: Connection | null, text: string): void {
    for (const member of room.members.values()) if (member !== except) this.send(member, text);
  }

  private error(conn: Connection, code: ErrorCode, message: string): void {
    this.send(conn, encodeMessage({ type: "error", code, message }));
  }

  /**
   * Sends unless the socket is gone; a reader this far behind is cut off rather
   * than buffered for. Frames sent to one socket in the same tick (several
   * signals read from one TCP chunk, a broadcast) leave in one write.
   */
  private send(conn: Connection, text: string): boolean {
    if (conn.readyState !== OPEN) return false;
    if (conn.bufferedAmount > this.limits.maxBufferedBytes) {
      this.metrics.reject("slow-reader");
      this.terminate(conn);
      return false;
    }
    const raw = conn.raw!;
    if (raw.writableCorked === 0) {
      raw.cork();
      process.nextTick(uncork, raw);
    }
    conn.send(text);
    return true;
  }

  /** Leaves the room; tells the others if `announce`. */
  private detach(conn: Connection, announce: boolean): void {
    const room = conn.room;
    if (!room) return;
    conn.room = null;
    if (room.members.get(conn.address) !== conn) return;
    room.members.delete(conn.address);
    this.peers -= 1;
    if (room.members.size === 0) this.rooms.delete(room.name);
    else if (announce) this.broadcast(room, null, encodeMessage({ type: "peer-left", peer: conn.address }));
  }

  /** Closes with a close frame (the peer gets heartbeatTimeoutMs to answer it, then it is cut). */
  private drop(conn: Connection, code: number, reason: string): void {
    if (conn.state === CLOSED) return;
    this.detach(conn, true);
    conn.markClosed(this.now() + this.limits.heartbeatTimeoutMs);
    conn.close(code, reason);
  }

  private terminate(conn: Connection): void {
    this.detach(conn, true);
    conn.markClosed(0);
    conn.terminate();
  }

  private onClose(conn: Connection): void {
    this.detach(conn, true);
    conn.markClosed(0);
    if (this.conns.delete(conn)) this.admission.release(conn.ip);
  }

  /** Heartbeat, join timeout, and sockets that never finish closing. */
  private sweep(): void {
    const now = this.now();
    const { heartbeatIntervalMs, heartbeatTimeoutMs, joinTimeoutMs } = this.limits;
    for (const conn of this.conns) {
      if (conn.state === CLOSED) {
        if (now > conn.expiresAt) conn.terminate();
      } else if (conn.state !== JOINED && now > conn.expiresAt) {
        this.metrics.reject("join-timeout");
        this.error(conn, "join-timeout", `no join within ${joinTimeoutMs} ms`);
        this.drop(conn, CLOSE.POLICY, "join-timeout");
      } else if (conn.pingSentAt >= 0) {
        if (now - conn.pingSentAt > heartbeatTimeoutMs) {
          this.metrics.reject("heartbeat");
          this.terminate(conn);
        }
      } else if (now - conn.lastPingAt >= heartbeatIntervalMs) {
        conn.pingSentAt = now;
        conn.lastPingAt = now;
        conn.ping();
      }
    }
  }
}

const PONG = encodeMessage({ type: "pong" });
const NONCE_SIZE_BYTES = 32;
/** Filled afresh for every challenge (no buffer per socket). */
const nonceScratch = Buffer.alloc(NONCE_SIZE_BYTES);
const SHUTTING_DOWN = encodeMessage({
  type: "error",
  code: "shutting-down",
  message: "the server is shutting down",
});

function uncork(raw: Duplex): void {
  raw.uncork();
}
