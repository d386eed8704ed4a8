// One signaling socket and the states it goes through: challenged (it may only
// join) -> joined -> closed once the server is done with it (its close handshake
// may still be under way). The state and its few fields live on the `ws`
// WebSocket itself (the server makes its sockets of this class): with ten
// thousand sockets, every object and boxed number per socket shows in the
// memory, so there is no object per socket beside the WebSocket, and times are
// integer ms since the hub started (small integers, not boxed numbers).
import type { Duplex } from "node:stream";
import WebSocket from "ws";
import type { TokenBucket } from "./rate-limit.ts";
import type { Room } from "./rooms.ts";

/** WebSocket close codes the server uses (PROTOCOL.md). */
export const CLOSE = {
  /** The server is shutting down. */
  GOING_AWAY: 1001,
  /** Bad signature, too many invalid messages, flooding, join timeout. */
  POLICY: 1008,
  /** A message over maxFrameBytes (sent by `ws` itself). */
  TOO_BIG: 1009,
  /** The same peer address joined again on another socket. */
  REPLACED: 4000,
} as const;

/** `ws` readyState of a socket that can be sent to. */
export const OPEN = 1;

export const CHALLENGED = 0;
export const JOINED = 1;
export const CLOSED = 2;
export type State = typeof CHALLENGED | typeof JOINED | typeof CLOSED;

/**
 * What a hostile client runs up against: its token bucket (rate-limit.ts) and
 * the invalid messages it has sent. Strikes do not decay.
 */
export class GuardedSocket extends WebSocket implements TokenBucket {
  milliTokens = 0;
  refilledAt = 0;
  windowStart = 0;
  droppedInWindow = 0;
  toldAt = 0;
  strikes = 0;
}

/** A signaling socket: where it is in its life, which room it is in, and its heartbeat. */
export class Connection extends GuardedSocket {
  state: State = CHALLENGED;
  room: Room | null = null;
  address = "";
  publicKey = "";
  /** The challenge, until the socket has joined. */
  nonce = "";
  /** The key the per-IP limit counted this socket under. */
  ip = "";
  /** The TCP socket under this WebSocket. */
  raw: Duplex | null = null;
  /**
   * When the current state runs out: challenged, the join timeout; closed, when
   * the socket is cut if its close handshake has not finished. Unused once joined.
   */
  expiresAt = 0;
  /** When the unanswered heartbeat ping was sent; -1 when none is outstanding. */
  pingSentAt = -1;
  lastPingAt = 0;

  /** Just accepted on `raw`: challenged with `nonce`, which it must sign by `expiresAt`. */
  challenge(raw: Duplex, ip: string, nonce: string, now: number, expiresAt: number): void {
    this.raw = raw;
    this.ip = ip;
    this.nonce = nonce;
    this.expiresAt = expiresAt;
    this.lastPingAt = now;
  }

  /** Proved its key: a member of `room` under `address`. */
  join(room: Room, address: string, publicKey: string): void {
    this.room = room;
    this.address = address;
    this.publicKey = publicKey;
    this.nonce = "";
    this.state = JOINED;
  }

  /** The server is done with it; it is cut at `cutAt` if its close handshake has not finished by then. */
  markClosed(cutAt: number): void {
    this.state = CLOSED;
    this.expiresAt = cutAt;
  }
}
