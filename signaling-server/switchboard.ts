// What reaches a socket and how a socket leaves: sends (a reader too far behind
// is cut, never buffered for), error answers, broadcasts and the relay of
// signals inside one room; and the ways out (a close frame with a deadline, a
// cut, the shutdown), each of which takes the socket out of its room and tells
// the others.
import type { Duplex } from "node:stream";
import { type ErrorCode, encodeMessage } from "../core/net/signaling-protocol.ts";
import type { RoomShare } from "./cluster/share.ts";
import { CLOSE, CLOSED, type Connection, OPEN } from "./connection.ts";
import type { SignalingLimits } from "./limits.ts";
import type { Metrics } from "./metrics.ts";
import type { Room, RoomRegistry } from "./rooms.ts";

/** After `ws` closes a socket for a bad frame: time for the close frame to go out before the cut. */
const ERROR_CLOSE_GRACE_MS = 500;

const SHUTTING_DOWN = encodeMessage({
  type: "error",
  code: "shutting-down",
  message: "the server is shutting down",
});

export class Switchboard {
  /** The rooms shared with other instances, if any (set by the hub): members elsewhere are relayed to through it. */
  share: RoomShare | null = null;

  constructor(
    private readonly limits: Pick<SignalingLimits, "maxBufferedBytes" | "heartbeatTimeoutMs">,
    private readonly metrics: Metrics,
    private readonly rooms: RoomRegistry,
    /** Integer ms since the hub started. */
    private readonly now: () => number,
  ) {}

  /**
   * Sends unless the socket is gone; a reader this far behind is cut off rather
   * than buffered for. Frames sent to one socket in the same tick (several
   * signals read from one TCP chunk, a broadcast) leave in one write.
   */
  send(conn: Connection, text: string): boolean {
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

  error(conn: Connection, code: ErrorCode, message: string): void {
    this.send(conn, encodeMessage({ type: "error", code, message }));
  }

  /** Sends `text` to every member of `room` but `except`. */
  broadcast(room: Room, except: Connection | null, text: string): void {
    for (const member of room.members.values()) if (member !== except) this.send(member, text);
  }

  /** Passes a signal on to member `to` of the sender's room; anyone else is `unknown-peer`. */
  relay(from: Connection, to: string, data: unknown): void {
    const target = from.room?.members.get(to);
    if (!target) {
      if (this.share?.relay(from, to, data)) {
        this.metrics.relayed += 1;
        return;
      }
      this.metrics.reject("unknown-peer");
      this.error(from, "unknown-peer", `no peer ${to} in this room`);
      return;
    }
    // The same bytes as encodeMessage({type: "signal", from, data}) without building that object
    // (an address is only letters, digits, "_", "-" and ".": nothing to escape).
    const text = `{"type":"signal","from":"${from.address}","data":${JSON.stringify(data)}}`;
    if (this.send(target, text)) this.metrics.relayed += 1;
  }

  /** Leaves the room; tells the others if `announce`. */
  detach(conn: Connection, announce: boolean): void {
    const name = conn.room?.members.get(conn.address) === conn ? conn.room.name : null;
    const room = this.rooms.remove(conn);
    if (room && announce)
      this.broadcast(room, null, encodeMessage({ type: "peer-left", peer: conn.address }));
    if (name !== null) this.share?.left(name, conn.address);
  }

  /** Closes with a close frame (the peer gets heartbeatTimeoutMs to answer it, then it is cut). */
  drop(conn: Connection, code: number, reason: string): void {
    if (conn.state === CLOSED) return;
    this.detach(conn, true);
    conn.markClosed(this.now() + this.limits.heartbeatTimeoutMs);
    conn.close(code, reason);
  }

  /** Cuts the socket without a close handshake. */
  terminate(conn: Connection): void {
    this.detach(conn, true);
    conn.markClosed(0);
    conn.terminate();
  }

  /** `ws` has closed the socket for a bad frame and stopped reading it: the close handshake cannot finish, so cut it soon. */
  broken(conn: Connection, err: Error & { code?: string }): void {
    // 1009 for an oversize message, 1007/1002 for bad frames.
    this.metrics.reject(err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" ? "too-large" : "bad-message");
    this.detach(conn, true);
    conn.markClosed(this.now() + ERROR_CLOSE_GRACE_MS);
  }

  /** The server is stopping: told and closed with 1001 (the hub cuts what is left after its grace). */
  shutDown(conn: Connection): void {
    if (conn.state === CLOSED) return;
    // Everyone is leaving: no peer-left announcements.
    conn.room = null;
    this.send(conn, SHUTTING_DOWN);
    this.metrics.reject("shutting-down");
    conn.markClosed(0);
    conn.close(CLOSE.GOING_AWAY, "shutting-down");
  }

  /** The socket has closed (whoever began it). */
  closed(conn: Connection): void {
    this.detach(conn, true);
    conn.markClosed(0);
  }
}

function uncork(raw: Duplex): void {
  raw.uncork();
}
