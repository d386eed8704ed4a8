// The room-bus acceptance suite against the in-memory twin (memory-bus.ts).
import { MemoryBus, MemoryWorld } from "../../signaling-server/cluster/memory-bus.ts";
import { describeRoomBus } from "./room-bus.suite.ts";

describeRoomBus("MemoryBus", async () => {
  const world = new MemoryWorld();
  return { bus: (id) => new MemoryBus(world, id), end: async () => undefined };
});
