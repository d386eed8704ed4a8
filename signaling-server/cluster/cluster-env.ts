// The cluster options `npm start` takes from the environment: REDIS_URL, and
// SIGNAL_CLUSTER_HEARTBEAT_MS / SIGNAL_CLUSTER_TTL_MS (PROTOCOL.md).
import { LimitError } from "../limits.ts";
import type { ClusterOptions } from "./cluster-options.ts";

function ms(env: Record<string, string | undefined>, name: string): number | undefined {
  const text = env[name]?.trim();
  if (!text) return undefined;
  if (!/^\d+$/.test(text) || Number(text) <= 0)
    throw new LimitError(`${name}: a positive integer, not "${text}"`);
  return Number(text);
}

/** Throws LimitError naming a bad setting. */
export function clusterFromEnv(env: Record<string, string | undefined>): ClusterOptions {
  const redisUrl = env.REDIS_URL?.trim();
  if (!redisUrl) return {};
  if (!/^rediss?:\/\//.test(redisUrl))
    throw new LimitError(`REDIS_URL: redis://host:port, not "${redisUrl}"`);
  const heartbeat = ms(env, "SIGNAL_CLUSTER_HEARTBEAT_MS");
  const ttl = ms(env, "SIGNAL_CLUSTER_TTL_MS");
  return {
    redisUrl,
    ...(heartbeat === undefined ? {} : { clusterHeartbeatIntervalMs: heartbeat }),
    ...(ttl === undefined ? {} : { clusterInstanceTtlMs: ttl }),
  };
}
