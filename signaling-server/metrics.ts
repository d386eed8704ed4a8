// Counters of the signaling server and their Prometheus exposition through
// prom-client, the standard client. The hot path (one relay per message in
// switchboard.ts) only bumps plain numbers on Metrics; prom-client reads them
// in collect() callbacks at scrape time. Each server has its own Registry
// (tests run several servers in one process); the process and Node figures
// (collectDefaultMetrics, under their standard names) come from one registry
// per process, merged in, since they are the process's and their collectors
// (a GC observer, an event-loop monitor) have no off switch.
import type { ServerResponse } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { ErrorCode } from "../core/net/signaling-protocol.ts";
import type { ClusterStats } from "./cluster/cluster-stats.ts";

/**
 * Why a socket, message or upgrade was refused: the protocol's error codes and a
 * few the server only counts. A fixed set, so the counter map stays small.
 */
export type RejectReason =
  | ErrorCode
  | "binary"
  | "flood"
  | "max-sockets"
  | "too-many-connections"
  | "max-connections"
  | "too-many-sessions"
  | "strikes"
  | "heartbeat"
  | "slow-reader"
  | "bad-path";

export interface Gauges {
  /** TCP connections of any kind (tcp-gate.ts). */
  connections: number;
  sockets: number;
  rooms: number;
  peers: number;
}

export class Metrics {
  relayed = 0;
  received = 0;
  joins = 0;
  private readonly rejected = new Map<RejectReason, number>();

  reject(reason: RejectReason): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  rejectedCount(reason: RejectReason): number {
    return this.rejected.get(reason) ?? 0;
  }

  /** Every reason refused so far with its count, by name. */
  rejections(): [RejectReason, number][] {
    return [...this.rejected].sort(([a], [b]) => a.localeCompare(b));
  }
}

export interface MetricsSources {
  /** Live counts, read at each scrape. */
  gauges: () => Gauges;
  /** The cluster's figures (Redis mode or single), if this server has a cluster. */
  cluster?: (() => ClusterStats) | undefined;
}

let processRegistry: Registry | null = null;

/** The process's own figures, collected once per process (see the top of this file). */
function processFigures(): Registry {
  if (processRegistry) return processRegistry;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // The names this server used before prom-client (the bench reads them);
  // nodejs_heap_size_*_bytes are the standard ones.
  gaugeOf(
    registry,
    "nodejs_heap_used_bytes",
    "V8 heap in use, in bytes.",
    () => process.memoryUsage().heapUsed,
  );
  gaugeOf(
    registry,
    "nodejs_heap_total_bytes",
    "V8 heap reserved, in bytes.",
    () => process.memoryUsage().heapTotal,
  );
  processRegistry = registry;
  return registry;
}

/** A counter whose value is read from `read` at scrape time. */
function counterOf(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

function gaugeOf(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

function clusterFigures(registry: Registry, stats: () => ClusterStats): void {
  const gauge = (name: string, help: string, read: (s: ClusterStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["instance"],
      registers: [registry],
      collect() {
        const s = stats();
        this.reset();
        this.set({ instance: s.instanceId }, read(s));
      },
    });
  const counter = (name: string, help: string, read: (s: ClusterStats) => number) =>
    new Counter({
      name,
      help,
      labelNames: ["instance"],
      registers: [registry],
      collect() {
        const s = stats();
        this.reset();
        this.inc({ instance: s.instanceId }, read(s));
      },
    });
  gauge("spare_signaling_redis_up", "1 while Redis is reachable, else 0.", (s) => (s.redisUp ? 1 : 0));
  gauge(
    "spare_signaling_cluster_instances",
    "Instances alive in the cluster, this one included.",
    (s) => s.instances,
  );
  gauge(
    "spare_signaling_remote_peers",
    "Peers in this instance's rooms joined on other instances.",
    (s) => s.remotePeers,
  );
  counter(
    "spare_signaling_cluster_published_total",
    "Messages this instance published to Redis.",
    (s) => s.published,
  );
  counter(
    "spare_signaling_cluster_delivered_total",
    "Messages from other instances delivered here.",
    (s) => s.delivered,
  );
}

/** One server's /metrics: its own Registry, the process's figures merged in. */
export class Exposition {
  readonly registry: Registry;

  constructor(metrics: Metrics, sources: MetricsSources) {
    const own = new Registry();
    const live = (key: keyof Gauges) => () => sources.gauges()[key];
    gaugeOf(
      own,
      "spare_signaling_connections",
      "Open TCP connections: HTTP, upgrading or WebSocket.",
      live("connections"),
    );
    gaugeOf(own, "spare_signaling_sockets", "Open signaling WebSockets, joined or not.", live("sockets"));
    gaugeOf(own, "spare_signaling_rooms", "Rooms with at least one member.", live("rooms"));
    gaugeOf(own, "spare_signaling_peers", "Sockets that have joined a room.", live("peers"));
    counterOf(
      own,
      "spare_signaling_received_total",
      "Text messages received (before validation).",
      () => metrics.received,
    );
    counterOf(own, "spare_signaling_joins_total", "Successful joins.", () => metrics.joins);
    counterOf(
      own,
      "spare_signaling_relayed_total",
      "Signal messages relayed to a peer.",
      () => metrics.relayed,
    );
    new Counter({
      name: "spare_signaling_rejected_total",
      help: "Messages, sockets and upgrades refused, by reason.",
      labelNames: ["reason"],
      registers: [own],
      collect() {
        this.reset();
        for (const [reason, n] of metrics.rejections()) this.inc({ reason }, n);
      },
    });
    if (sources.cluster) clusterFigures(own, sources.cluster);
    this.registry = Registry.merge([own, processFigures()]);
  }

  /** The text exposition (format 0.0.4); rejects if a figure cannot be read. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Answers a scrape: the figures, or a 500 naming what failed (never an unhandled rejection). */
  serve(res: ServerResponse): void {
    res.setHeader("Cache-Control", "no-store");
    this.render().then(
      (text) => {
        res.setHeader("Content-Type", this.registry.contentType);
        res.end(text);
      },
      (err: unknown) => {
        res.statusCode = 500;
        res.setHeader("Content-Type", "text/plain; charset=utf-8");
        res.end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  }
}
