// What /metrics and /healthz show of the cluster (cluster/share.ts fills it in).
export interface ClusterStats {
  mode: "single" | "redis";
  redisUp: boolean;
  instanceId: string;
  instances: number;
  remotePeers: number;
  published: number;
  delivered: number;
}
