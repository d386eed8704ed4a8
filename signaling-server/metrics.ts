// Counters of the signaling server and their Prometheus text exposition
// (https://prometheus.io/docs/instrumenting/exposition_formats/).

import type { ErrorCode } from "../core/net/signaling-protocol.ts";

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

  render(gauges: Gauges): string {
    const memory = process.memoryUsage();
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    metric("spare_signaling_connections", "gauge", "Open TCP connections: HTTP, upgrading or WebSocket.", [
      ["", gauges.connections],
    ]);
    metric("spare_signaling_sockets", "gauge", "Open signaling WebSockets, joined or not.", [
      ["", gauges.sockets],
    ]);
    metric("spare_signaling_rooms", "gauge", "Rooms with at least one member.", [["", gauges.rooms]]);
    metric("spare_signaling_peers", "gauge", "Sockets that have joined a room.", [["", gauges.peers]]);
    metric("spare_signaling_received_total", "counter", "Text messages received (before validation).", [
      ["", this.received],
    ]);
    metric("spare_signaling_joins_total", "counter", "Successful joins.", [["", this.joins]]);
    metric("spare_signaling_relayed_total", "counter", "Signal messages relayed to a peer.", [
      ["", this.relayed],
    ]);
    metric(
      "spare_signaling_rejected_total",
      "counter",
      "Messages, sockets and upgrades refused, by reason.",
      [...this.rejected].sort(([a], [b]) => a.localeCompare(b)).map(([r, n]) => [`{reason="${r}"}`, n]),
    );
    metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [["", memory.rss]]);
    metric("nodejs_heap_used_bytes", "gauge", "V8 heap in use, in bytes.", [["", memory.heapUsed]]);
    metric("nodejs_heap_total_bytes", "gauge", "V8 heap reserved, in bytes.", [["", memory.heapTotal]]);
    metric("nodejs_external_memory_bytes", "gauge", "Memory of C++ objects bound to JavaScript, in bytes.", [
      ["", memory.external],
    ]);
    return `${lines.join("\n")}\n`;
  }
}
