// One signaling instance in a process of its own, for tests that kill it
// (SIGKILL: its heartbeat just stops): forked with an IPC channel, it shares
// rooms over REDIS_URL and sends {port, instanceId} once it has reached Redis.
import { createSignalingServer } from "../../signaling-server/server.ts";

const server = createSignalingServer({
  port: 0,
  gatewayRoom: null,
  redisUrl: process.env.REDIS_URL,
  clusterHeartbeatIntervalMs: Number(process.env.CLUSTER_HEARTBEAT_MS ?? 100),
  clusterInstanceTtlMs: Number(process.env.CLUSTER_TTL_MS ?? 400),
  clusterLog: () => undefined,
});
await server.ready;
const timer = setInterval(() => {
  if (!server.cluster().redisUp) return;
  clearInterval(timer);
  process.send?.({ port: server.address().port, instanceId: server.cluster().instanceId });
}, 20);
process.on("disconnect", () => void server.close().then(() => process.exit(0)));
