// What the server does with each message a socket sends: the rate limit first,
// then validation (a binary frame, bad JSON, a bad shape, the wrong message for
// the socket's state: each answered with its error code and a strike), then the
// join proof or the relay. At maxStrikes, or when it floods, the socket is closed.
import { randomFillSync } from "node:crypto";
import type { Duplex } from "node:stream";
import type { RawData } from "ws";
import { peerAddress } from "../core/net/peer-address.ts";
import {
  type ClientMessage,
  type ErrorCode,
  encodeMessage,
  joinChallengeBytes,
  parseClientMessage,
} from "../core/net/signaling-protocol.ts";
import type { RoomShare, ShareJoin } from "./cluster/share.ts";
import { CHALLENGED, CLOSE, CLOSED, type Connection, JOINED } from "./connection.ts";
import type { SignalingLimits } from "./limits.ts";
import type { Metrics, RejectReason } from "./metrics.ts";
import { fillBucket, type RateVerdict, takeToken } from "./rate-limit.ts";
import type { RoomRegistry } from "./rooms.ts";
import type { Switchboard } from "./switchboard.ts";
import type { TurnIssuer } from "./turn-credentials.ts";
import { peerIdOfKey, verifyEd25519 } from "./verify.ts";

const NONCE_SIZE_BYTES = 32;
/** Filled afresh for every challenge (no buffer per socket). */
const nonceScratch = Buffer.alloc(NONCE_SIZE_BYTES);

const PONG = encodeMessage({ type: "pong" });

type JoinMessage = Extract<ClientMessage, { type: "join" }>;

type DispatchLimits = Pick<
  SignalingLimits,
  | "messagesPerSecond"
  | "burst"
  | "maxStrikes"
  | "joinTimeoutMs"
  | "peersPerRoom"
  | "sessionsPerKey"
  | "iceServers"
>;

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}

export class Dispatcher {
  /** The rooms shared with other instances, if any (set by the hub). */
  share: RoomShare | null = null;

  constructor(
    private readonly limits: DispatchLimits,
    private readonly metrics: Metrics,
    private readonly rooms: RoomRegistry,
    private readonly board: Switchboard,
    /** Integer ms since the hub started. */
    private readonly now: () => number,
    /** Per-peer TURN credentials in "joined" (and fresh ones on a ping), when TURN is set up. */
    private readonly turn: TurnIssuer | null = null,
  ) {}

  /** A socket just accepted on `raw`: a fresh nonce to sign, a full bucket, joinTimeoutMs to join. */
  open(conn: Connection, raw: Duplex, ip: string): void {
    const now = this.now();
    const nonce = randomFillSync(nonceScratch).toString("base64url");
    conn.challenge(raw, ip, nonce, now, now + this.limits.joinTimeoutMs);
    fillBucket(conn, this.limits, now);
  }

  onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
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
    if (message.type === "signal") this.board.relay(conn, message.to, message.data);
    else {
      if (this.turn?.due(conn)) this.board.send(conn, this.iceMessage(conn));
      this.board.send(conn, PONG);
    }
  }

  /** The static ICE servers, and this peer's own TURN credentials when TURN is set up. */
  private iceServersFor(conn: Connection) {
    const fixed = this.limits.iceServers;
    return this.turn ? [...fixed, this.turn.issue(conn, conn.address)] : fixed;
  }

  private iceMessage(conn: Connection): string {
    return encodeMessage({ type: "ice-servers", iceServers: this.iceServersFor(conn) });
  }

  private overLimit(conn: Connection, verdict: Exclude<RateVerdict, "ok">): void {
    this.metrics.reject("rate-limited");
    if (verdict === "flood") {
      this.metrics.reject("flood");
      this.board.error(conn, "rate-limited", "flooding: closing");
      this.board.drop(conn, CLOSE.POLICY, "flooding");
    } else if (verdict === "drop-and-tell") {
      const { messagesPerSecond, burst } = this.limits;
      this.board.error(
        conn,
        "rate-limited",
        `over ${messagesPerSecond}/s (burst ${burst}): messages dropped`,
      );
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
    this.board.error(conn, code, message);
    this.countStrike(conn);
  }

  private countStrike(conn: Connection): void {
    conn.strikes += 1;
    if (conn.strikes >= this.limits.maxStrikes && conn.state !== CLOSED) {
      this.metrics.reject("strikes");
      this.board.drop(conn, CLOSE.POLICY, "too many invalid messages");
    }
  }

  private join(conn: Connection, m: JoinMessage): void {
    const proof = joinChallengeBytes(conn.nonce, m.room, m.session, m.publicKey);
    const peerId = verifyEd25519(m.publicKey, proof, m.signature) ? peerIdOfKey(m.publicKey) : null;
    if (peerId === null) {
      this.metrics.reject("bad-signature");
      this.board.error(
        conn,
        "bad-signature",
        "the signature does not prove this key signed this socket's challenge",
      );
      this.board.drop(conn, CLOSE.POLICY, "bad-signature");
      return;
    }
    const address = peerAddress(peerId, m.session);
    if (this.share) void this.joinShared(conn, m, address, this.share);
    else this.place(conn, m, address, null);
  }

  /** With other instances: the room's caps are checked over all of them first (the challenge is spent meanwhile). */
  private async joinShared(
    conn: Connection,
    m: JoinMessage,
    address: string,
    share: RoomShare,
  ): Promise<void> {
    conn.nonce = "";
    const verdict = await share.join(m.room, address, m.publicKey);
    const placed = conn.state === CHALLENGED && this.place(conn, m, address, verdict);
    if (!placed && verdict === "ok" && !this.rooms.get(m.room)?.members.has(address))
      share.left(m.room, address);
  }

  /** Puts a proven socket in its room, or says why not; whether it did. */
  private place(conn: Connection, m: JoinMessage, address: string, shared: ShareJoin | null): boolean {
    const placement =
      shared === "room-full" || shared === "too-many-sessions"
        ? shared
        : this.rooms.place(m.room, address, m.publicKey);
    if (placement === "too-many-rooms") {
      this.metrics.reject("too-many-rooms");
      this.board.error(conn, "too-many-rooms", "the server holds as many rooms as it may");
      return false;
    }
    if (placement === "room-full") {
      this.metrics.reject("room-full");
      this.board.error(conn, "room-full", `the room has ${this.limits.peersPerRoom} peers`);
      return false;
    }
    if (placement === "too-many-sessions") {
      this.metrics.reject("too-many-sessions");
      const n = this.limits.sessionsPerKey;
      this.board.error(
        conn,
        "too-many-sessions",
        `this key already has ${n} sessions in the room (at most ${n} per key)`,
      );
      return false;
    }
    const { room, previous } = placement;
    // The same key and session again (a reconnect): the new socket takes the
    // address over in place, so the room never empties (and is never dropped
    // from the registry) in between; the old socket leaves with no peer-left.
    conn.join(room, address, m.publicKey);
    const peers = this.rooms.add(room, address, conn, previous);
    if (this.share) peers.push(...this.share.peersOf(m.room, address));
    if (previous) this.board.drop(previous, CLOSE.REPLACED, "replaced");
    this.metrics.joins += 1;
    const iceServers = this.iceServersFor(conn);
    this.board.send(conn, encodeMessage({ type: "joined", room: m.room, self: address, peers, iceServers }));
    const joined = encodeMessage({ type: "peer-joined", peer: { peer: address, publicKey: m.publicKey } });
    this.board.broadcast(room, conn, joined);
    this.share?.joined(m.room, address, m.publicKey);
    return true;
  }
}
