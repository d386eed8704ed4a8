// The one small server: static hosting of the built app, WebSocket signaling on
// /signal (signaling.ts), /healthz and /metrics. Every TCP connection is
// counted from its first moment (tcp-gate.ts) and must finish its request
// headers within headerTimeoutMs. A factory returning {ready,
// address, close}, so `npm start` and the tests (port 0) run the same thing.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { SIGNALING_PATH } from "../core/net/signaling-protocol.ts";
import { clientKey } from "./client-address.ts";
import type { ClusterOptions } from "./cluster/cluster-options.ts";
import type { ClusterStats } from "./cluster/cluster-stats.ts";
import { Connection } from "./connection.ts";
import { resolveLimits, type SignalingLimits } from "./limits.ts";
import { Exposition, Metrics, type RejectReason } from "./metrics.ts";
import { type HubStats, SignalingHub } from "./signaling.ts";
import { staticFiles } from "./static-files.ts";
import { TcpGate } from "./tcp-gate.ts";
import { TurnIssuer, type TurnSettings } from "./turn-credentials.ts";
import { WebGateway } from "./web-gateway.ts";

export interface SignalingServerOptions extends Partial<SignalingLimits>, ClusterOptions {
  port?: number;
  host?: string;
  /** The built app to serve (dist/); omit to serve no files. */
  staticDir?: string;
  /**
   * The room whose published VMs this server serves at /vm/ (web-gateway.ts);
   * null for none. Default "main", the app's own default network.
   */
  gatewayRoom?: string | null;
  /**
   * Reverse proxies whose X-Forwarded-For is believed (addresses, CIDRs,
   * `loopback`…; client-address.ts): behind them the per-IP limits count the
   * client's address. None by default: the header is ignored.
   */
  trustedProxies?: readonly string[];
  /** coturn's shared secret and URLs: each joined peer gets its own short-lived credentials (turn-credentials.ts). */
  turn?: TurnSettings | TurnIssuer;
}

export interface SignalingServer {
  /** Resolves once the server listens. */
  ready: Promise<void>;
  /** Where it listens, e.g. http://127.0.0.1:8080 (valid after `ready`). */
  address(): { host: string; port: number; url: string };
  /** Live counts: sockets, rooms, peers, admitted raw sockets, distinct IPs. */
  stats(): HubStats;
  /** This instance's part in the cluster (mode "single" without redisUrl). */
  cluster(): ClusterStats;
  /** TCP connections open now, of any kind (HTTP, upgrading, WebSocket), as the TCP gate counts them. */
  connections(): number;
  /** Stops accepting, closes every socket (1001), cuts the ones that do not go; never hangs. */
  close(): Promise<void>;
}

/** How often Node looks for connections past headerTimeoutMs: within a quarter of it, at most once a second. */
export function headerCheckIntervalMs(headerTimeoutMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(headerTimeoutMs / 4)));
}

const UPGRADE_REFUSALS: Partial<Record<RejectReason, [number, string]>> = {
  "bad-path": [404, "Not Found"],
  "too-many-sockets": [429, "Too Many Requests"],
  "max-sockets": [503, "Service Unavailable"],
  "shutting-down": [503, "Service Unavailable"],
};

/** Answers an upgrade request with an HTTP error and drops the socket. */
function refuseUpgrade(socket: Duplex, reason: RejectReason): void {
  const [status, text] = UPGRADE_REFUSALS[reason] ?? [400, "Bad Request"];
  const body = `${reason}\n`;
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${body.length}\r\nX-Signaling-Error: ${reason}\r\n\r\n${body}`,
  );
}

function turnIssuer(turn: SignalingServerOptions["turn"]): TurnIssuer | null {
  if (!turn) return null;
  return turn instanceof TurnIssuer ? turn : new TurnIssuer(turn);
}

export function createSignalingServer(options: SignalingServerOptions = {}): SignalingServer {
  const limits = resolveLimits(options);
  const clientIp = clientKey(options.trustedProxies);
  const metrics = new Metrics();
  const hub = new SignalingHub(limits, metrics, turnIssuer(options.turn), options);
  const wss = new WebSocketServer<typeof Connection>({
    noServer: true,
    WebSocket: Connection,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: limits.maxFrameBytes,
    // Not in @types/ws yet: how long a close handshake may take before `ws` cuts the socket.
    ...({ closeTimeout: limits.heartbeatTimeoutMs } as object),
  });
  const serveStatic = options.staticDir ? staticFiles(options.staticDir) : null;
  const notFound = (res: ServerResponse) => {
    res.statusCode = 404;
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.end("not found\n");
  };
  const gate = new TcpGate(limits, metrics);
  const exposition = new Exposition(metrics, {
    gauges: () => {
      const { sockets, rooms, peers } = hub.stats();
      return { connections: gate.connections, sockets, rooms, peers };
    },
    cluster: () => hub.cluster(),
  });
  const gatewayRoom = options.gatewayRoom === undefined ? "main" : options.gatewayRoom;
  const gateway = gatewayRoom
    ? new WebGateway({
        room: gatewayRoom,
        signalUrl: () => {
          const info = http.address() as AddressInfo;
          return `ws://${info.family === "IPv6" ? `[${info.address}]` : info.address}:${info.port}${SIGNALING_PATH}`;
        },
      })
    : null;
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (gateway?.handle(req, res, clientIp(req))) return;
    if (path === "/healthz") {
      res.setHeader("Content-Type", "application/json");
      res.setHeader("Cache-Control", "no-store");
      const cluster = hub.cluster();
      const redis = cluster.mode === "single" ? "off" : cluster.redisUp ? "up" : "down";
      res.end(
        JSON.stringify({
          ok: true,
          ...hub.stats(),
          connections: gate.connections,
          redis,
          instanceId: cluster.instanceId,
        }),
      );
      return;
    }
    if (path === "/metrics") {
      exposition.serve(res);
      return;
    }
    if (serveStatic) serveStatic(req, res, () => notFound(res));
    else notFound(res);
  };
  // A connection gets headerTimeoutMs from when it opens to finish its request
  // headers (a socket that never sends a byte included), then Node answers 408
  // and closes it; nothing here takes a request body, so the whole request gets
  // no longer. Node's check runs on its own timer, which http.close() ends.
  const http = createServer(
    {
      headersTimeout: limits.headerTimeoutMs,
      requestTimeout: limits.headerTimeoutMs,
      connectionsCheckingInterval: headerCheckIntervalMs(limits.headerTimeoutMs),
    },
    serve,
  );
  gate.attach(http);
  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? "/").split("?")[0];
    const ip = clientIp(req);
    const refusal = path === SIGNALING_PATH ? hub.admit(ip) : "bad-path";
    if (refusal) {
      // Node's HTTP server stops listening for this socket's errors at the upgrade.
      socket.on("error", () => socket.destroy());
      metrics.reject(refusal);
      refuseUpgrade(socket, refusal);
      return;
    }
    let accepted = false;
    wss.handleUpgrade(req, socket, head, (ws) => {
      accepted = true;
      hub.accept(ws, socket, ip);
    });
    // `ws` refused the handshake (it answers 400 and closes the socket itself).
    if (!accepted) hub.countUntilClosed(socket, ip);
  });
  let lastAcceptError = 0;
  const host = options.host ?? "127.0.0.1";
  const ready = new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port ?? 8080, host, () => {
      http.off("error", reject);
      // After listening, an error (e.g. EMFILE on accept) must not kill the server.
      http.on("error", (err) => {
        if (Date.now() - lastAcceptError < 10_000) return;
        lastAcceptError = Date.now();
        console.error(`signaling server: ${err.message}`);
      });
      resolve();
    });
  });
  let closing: Promise<void> | null = null;
  return {
    ready,
    address() {
      const info = http.address() as AddressInfo | null;
      if (!info) throw new Error("the server is not listening");
      const shown = info.family === "IPv6" ? `[${info.address}]` : info.address;
      return { host: info.address, port: info.port, url: `http://${shown}:${info.port}` };
    },
    stats: () => hub.stats(),
    cluster: () => hub.cluster(),
    connections: () => gate.connections,
    close() {
      closing ??= (async () => {
        await ready.catch(() => undefined);
        const stopped = new Promise<void>((resolve) => {
          if (!http.listening) resolve();
          else http.close(() => resolve());
        });
        http.closeAllConnections();
        await gateway?.close();
        await hub.close(limits.shutdownGraceMs);
        wss.close();
        await stopped;
        gate.detach();
      })();
      return closing;
    },
  };
}
