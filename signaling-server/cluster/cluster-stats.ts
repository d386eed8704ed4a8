export interface ClusterStats {
  mode: "single" | "redis";
  redisUp: boolean;
  instanceId: string;
  instances: number;
  remotePeers: number;
  published: number;
  delivered: number;
}
