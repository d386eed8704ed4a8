// The server's cluster options and what they make: nothing (one instance
// alone, no Redis client even loaded) or a RoomShare on Redis (or, in tests,
// on a bus of their own such as the in-memory twin).
import { randomBytes } from "node:crypto";
import type { RoomRegistry } from "../rooms.ts";
import type { Switchboard } from "../switchboard.ts";
import type { ClusterStats } from "./cluster-stats.ts";
import type { RoomBus, RoomCaps } from "./room-bus.ts";
import { RoomShare } from "./share.ts";

export interface ClusterOptions {
  /** redis://host:port: share rooms with every instance on that Redis. Unset: one instance alone. */
  redisUrl?: string;
  /** Tests: share through this bus instead (e.g. the in-memory twin), one per instance. */
  roomBus?: (instanceId: string) => RoomBus;
  /** How often an instance refreshes its heartbeat and looks for dead ones (default 1000). */
  clusterHeartbeatIntervalMs?: number;
  /** How long an instance's heartbeat lives unrefreshed before others drop its members (default 3000). */
  clusterInstanceTtlMs?: number;
  /** Where the lines about Redis going and coming go (default console.log). */
  clusterLog?: (line: string) => void;
}

export const CLUSTER_DEFAULTS = Object.freeze({ heartbeatIntervalMs: 1_000, instanceTtlMs: 3_000 });

export function newInstanceId(): string {
  return randomBytes(8).toString("hex");
}

/** host:port of a Redis URL, for logs (never its password). */
export function redisWhere(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "6379"}`;
  } catch {
    return "REDIS_URL";
  }
}

/** The share the options ask for, started; null for one instance alone. */
export function startShare(
  options: ClusterOptions,
  instanceId: string,
  caps: RoomCaps,
  rooms: RoomRegistry,
  board: Switchboard,
): RoomShare | null {
  const { redisUrl, roomBus } = options;
  if (!redisUrl && !roomBus) return null;
  const heartbeatIntervalMs = options.clusterHeartbeatIntervalMs ?? CLUSTER_DEFAULTS.heartbeatIntervalMs;
  const instanceTtlMs = options.clusterInstanceTtlMs ?? CLUSTER_DEFAULTS.instanceTtlMs;
  if (!(instanceTtlMs > heartbeatIntervalMs && heartbeatIntervalMs > 0))
    throw new Error("the cluster heartbeat must be positive and shorter than the instance TTL");
  const openBus = roomBus
    ? roomBus
    : async (id: string) => {
        const { RedisBus } = await import("./redis-bus.ts");
        return new RedisBus({ url: redisUrl!, instanceId: id });
      };
  const share = new RoomShare(
    {
      instanceId,
      openBus,
      heartbeatIntervalMs,
      instanceTtlMs,
      caps,
      log: options.clusterLog ?? ((line) => console.log(line)),
      where: redisUrl ? redisWhere(redisUrl) : "test bus",
    },
    rooms,
    board,
  );
  share.start().catch((err: Error) => console.error(`cluster: ${err.message}`));
  return share;
}

export function singleStats(instanceId: string): ClusterStats {
  return {
    mode: "single",
    redisUp: false,
    instanceId,
    instances: 1,
    remotePeers: 0,
    published: 0,
    delivered: 0,
  };
}
