// The room-bus acceptance suite against Redis: RedisBus (node-redis) on a real
// redis-server started for this file, emptied between tests.
import { createClient } from "redis";
import { afterAll, beforeAll } from "vitest";
import { RedisBus } from "../../signaling-server/cluster/redis-bus.ts";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.ts";
import { describeRoomBus } from "./room-bus.suite.ts";

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.stop();
});

describeRoomBus("RedisBus (redis-server)", async () => ({
  bus: (id) => new RedisBus({ url: redis.url, instanceId: id }),
  async end() {
    const client = createClient({ url: redis.url });
    await client.connect();
    await client.flushAll();
    client.destroy();
  },
}));
