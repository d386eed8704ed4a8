// What the server does with a WebSocket once the HTTP side (server.ts) has let
// it in. Every socket gets a nonce, must join a room by signing it, and may then
// send signals to members of its room only. The hub holds the sockets and owns
// their listeners and the one sweep timer; the jobs are in their own files:
// admission.ts (who may open a socket), connection.ts (a socket's state),
// dispatch.ts (each inbound message), rooms.ts (the room registry),
// switchboard.ts (sends, the relay, the ways out), sweeper.ts (heartbeat and
// deadlines).
import type { Duplex } from "node:stream";
import type WebSocket from "ws";
import type { RawData } from "ws";
import { encodeMessage, SIGNALING_PROTOCOL } from "../core/net/signaling-protocol.ts";
import { Admission } from "./admission.ts";
import { type ClusterOptions, newInstanceId, singleStats, startShare } from "./cluster/cluster-options.ts";
import type { ClusterStats } from "./cluster/cluster-stats.ts";
import type { RoomShare } from "./cluster/share.ts";
import type { Connection } from "./connection.ts";
import { Dispatcher } from "./dispatch.ts";
import type { SignalingLimits } from "./limits.ts";
import type { Metrics, RejectReason } from "./metrics.ts";
import { RoomRegistry } from "./rooms.ts";
import { Sweeper } from "./sweeper.ts";
import { Switchboard } from "./switchboard.ts";
import type { TurnIssuer } from "./turn-credentials.ts";

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

export class SignalingHub {
  private readonly conns = new Set<Connection>();
  private readonly admission: Admission;
  private readonly rooms: RoomRegistry;
  private readonly board: Switchboard;
  private readonly dispatcher: Dispatcher;
  /** Ended by close(). */
  private readonly sweeper: Sweeper;
  /** Rooms shared with other instances (cluster/); null alone. Ended by close(). */
  private readonly share: RoomShare | null;
  private readonly instanceId = newInstanceId();
  private closing = false;
  private onDrained: (() => void) | null = null;
  // One listener of each kind for all sockets (`this` is the socket). They are
  // attached in accept() and go with the socket: once it has closed, the hub
  // holds it no longer.
  private readonly listeners: {
    message: (this: WebSocket, data: RawData, isBinary: boolean) => void;
    pong: (this: WebSocket) => void;
    error: (this: WebSocket, err: Error & { code?: string }) => void;
    close: (this: WebSocket) => void;
  };

  constructor(
    limits: SignalingLimits,
    metrics: Metrics,
    turn: TurnIssuer | null = null,
    cluster: ClusterOptions = {},
  ) {
    const epoch = Date.now();
    const now = () => Date.now() - epoch;
    this.admission = new Admission(limits, () => this.checkDrained());
    this.rooms = new RoomRegistry(limits);
    this.board = new Switchboard(limits, metrics, this.rooms, now);
    this.dispatcher = new Dispatcher(limits, metrics, this.rooms, this.board, now, turn);
    this.sweeper = new Sweeper(this.conns, limits, metrics, this.board, now);
    this.share = startShare(cluster, this.instanceId, limits, this.rooms, this.board);
    this.board.share = this.share;
    this.dispatcher.share = this.share;
    const dispatcher = this.dispatcher;
    const board = this.board;
    const onClose = (c: Connection) => this.onClose(c);
    this.listeners = {
      message(data, isBinary) {
        dispatcher.onMessage(this as Connection, data, isBinary);
      },
      pong() {
        (this as Connection).pingSentAt = -1;
      },
      error(err) {
        board.broken(this as Connection, err);
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
      peers: this.rooms.peers,
      admitted: this.admission.admitted,
      ips: this.admission.ips,
    };
  }

  /** This instance's part in the cluster (a lone instance's when there is none). */
  cluster(): ClusterStats {
    return this.share?.stats() ?? singleStats(this.instanceId);
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
    this.dispatcher.open(conn, raw, ip);
    this.conns.add(conn);
    conn.on("message", this.listeners.message);
    conn.on("pong", this.listeners.pong);
    conn.on("error", this.listeners.error);
    conn.on("close", this.listeners.close);
    if (this.closing) {
      this.board.shutDown(conn);
      return;
    }
    this.board.send(
      conn,
      encodeMessage({ type: "challenge", protocol: SIGNALING_PROTOCOL, nonce: conn.nonce }),
    );
  }

  /**
   * Graceful shutdown: every socket is told and closed with 1001, gets
   * `graceMs` to finish its close handshake, then whatever is left is cut.
   */
  async close(graceMs: number): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.sweeper.stop();
      for (const conn of this.conns) this.board.shutDown(conn);
      this.rooms.clear();
      await this.share?.close();
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

  private onClose(conn: Connection): void {
    this.board.closed(conn);
    if (this.conns.delete(conn)) this.admission.release(conn.ip);
  }
}
