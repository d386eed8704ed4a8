// The one timer of the signaling server: a sweep over every socket for the
// heartbeat (a WebSocket ping every heartbeatIntervalMs, cut when its pong is
// heartbeatTimeoutMs late), the join timeout, and sockets whose close handshake
// never finishes. Per socket it needs only the integer times on the socket.
import { CLOSE, CLOSED, type Connection, JOINED } from "./connection.ts";
import type { SignalingLimits } from "./limits.ts";
import type { Metrics } from "./metrics.ts";
import type { Switchboard } from "./switchboard.ts";

type SweepLimits = Pick<SignalingLimits, "heartbeatIntervalMs" | "heartbeatTimeoutMs" | "joinTimeoutMs">;

/** Often enough to see each deadline within a quarter of the shortest one, at most once a second. */
export function sweepIntervalMs(limits: SweepLimits): number {
  const shortestMs = Math.min(limits.heartbeatIntervalMs, limits.heartbeatTimeoutMs, limits.joinTimeoutMs);
  return Math.max(10, Math.min(1000, shortestMs / 4));
}

/** Owns the sweep timer from construction until stop(). */
export class Sweeper {
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly conns: ReadonlySet<Connection>,
    private readonly limits: SweepLimits,
    private readonly metrics: Metrics,
    private readonly board: Switchboard,
    /** Integer ms since the hub started. */
    private readonly now: () => number,
  ) {
    this.timer = setInterval(() => this.sweep(), sweepIntervalMs(limits));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
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
        this.board.error(conn, "join-timeout", `no join within ${joinTimeoutMs} ms`);
        this.board.drop(conn, CLOSE.POLICY, "join-timeout");
      } else if (conn.pingSentAt >= 0) {
        if (now - conn.pingSentAt > heartbeatTimeoutMs) {
          this.metrics.reject("heartbeat");
          this.board.terminate(conn);
        }
      } else if (now - conn.lastPingAt >= heartbeatIntervalMs) {
        conn.pingSentAt = now;
        conn.lastPingAt = now;
        conn.ping();
      }
    }
  }
}
