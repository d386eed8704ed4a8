// Every TCP connection to the server, counted from the moment it is accepted
// (the net.Server 'connection' event, before a byte is read or any HTTP is
// parsed), against connectionsPerIp for its address (an IPv6 address by its
// /64) and maxConnections in all. Plain HTTP, a request still arriving, or a
// WebSocket: each holds one count until its socket closes, so sockets that
// never send a byte can no longer pile up uncounted. Over a cap, the socket is
// answered with HTTP 429/503 at once and closed. (Sockets that do get in and
// then never finish their request headers are cut by Node's headersTimeout,
// set from headerTimeoutMs in server.ts.)
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { ipKey } from "./admission.ts";
import type { SignalingLimits } from "./limits.ts";
import type { Metrics, RejectReason } from "./metrics.ts";

const kIp = Symbol("tcp gate ip");
type Gated = Socket & { [kIp]?: string };

function refusal(status: string, reason: RejectReason): string {
  const body = `${reason}\n`;
  return (
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${body.length}\r\nX-Signaling-Error: ${reason}\r\n\r\n${body}`
  );
}

const TOO_MANY = refusal("429 Too Many Requests", "too-many-connections");
const FULL = refusal("503 Service Unavailable", "max-connections");

export class TcpGate {
  /** Sockets let in and not yet closed. */
  private open = 0;
  /** Open sockets per address; only addresses with one. */
  private readonly perIp = new Map<string, number>();
  /** The one close listener for every counted socket (`this` is the socket); it goes with the socket. */
  private readonly onClose: (this: Socket) => void;
  /** Attached to the server in attach(), removed by detach(). */
  private readonly onConnection = (socket: Socket) => this.admit(socket);
  private server: Server | null = null;

  constructor(
    private readonly caps: Pick<SignalingLimits, "connectionsPerIp" | "maxConnections">,
    private readonly metrics: Metrics,
  ) {
    const release = (ip: string) => this.release(ip);
    this.onClose = function () {
      release((this as Gated)[kIp]!);
    };
  }

  /** TCP connections open now (HTTP, upgrading, or WebSocket). */
  get connections(): number {
    return this.open;
  }

  /** Counts every connection `server` accepts, ahead of its HTTP handling. */
  attach(server: Server): void {
    this.server = server;
    server.prependListener("connection", this.onConnection);
  }

  detach(): void {
    this.server?.off("connection", this.onConnection);
    this.server = null;
  }

  private admit(socket: Socket): void {
    // The raw peer address, even behind a trusted proxy: no header has arrived
    // yet to say whom it forwards for (client-address.ts, used from the request
    // on). Behind a proxy, connectionsPerIp must cover what the proxy holds open.
    const ip = ipKey(socket.remoteAddress);
    const n = this.perIp.get(ip) ?? 0;
    const refused: RejectReason | null =
      this.open >= this.caps.maxConnections
        ? "max-connections"
        : n >= this.caps.connectionsPerIp
          ? "too-many-connections"
          : null;
    if (refused) {
      this.metrics.reject(refused);
      // Nothing has been read: the answer goes out in one write on a fresh
      // socket (it fits the send buffer), then the socket is gone. Node's HTTP
      // handler, which runs next, finds it destroyed and reads nothing.
      socket.write(refused === "max-connections" ? FULL : TOO_MANY);
      socket.destroy();
      return;
    }
    this.perIp.set(ip, n + 1);
    this.open += 1;
    (socket as Gated)[kIp] = ip;
    socket.once("close", this.onClose);
  }

  private release(ip: string): void {
    this.open -= 1;
    const left = (this.perIp.get(ip) ?? 1) - 1;
    if (left > 0) this.perIp.set(ip, left);
    else this.perIp.delete(ip);
  }
}
