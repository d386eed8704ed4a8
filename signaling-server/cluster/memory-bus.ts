// The in-memory twin of the Redis bus: several hubs in one process share one
// MemoryWorld as instances share one Redis. The same acceptance suite
// (tests/acceptance/room-bus.suite.ts) runs against both, so the twin keeps
// Redis's semantics: atomic joins under the caps, heartbeats that expire,
// reaps that only one caller wins, and pub/sub delivered asynchronously (and
// not at all while the world is "down").
import type {
  BusHandlers,
  BusJoin,
  BusMember,
  Heartbeat,
  RoomAddress,
  RoomBus,
  RoomCaps,
} from "./room-bus.ts";

export class MemoryWorld {
  readonly rooms = new Map<string, Map<string, { publicKey: string; instance: string }>>();
  readonly memberships = new Map<string, Set<string>>();
  /** Heartbeat expiry (Date.now() ms) of each instance known. */
  readonly instances = new Map<string, number>();
  readonly buses = new Set<MemoryBus>();
  private reachable = true;

  constructor(readonly now: () => number = Date.now) {}

  get up(): boolean {
    return this.reachable;
  }

  /** Like Redis stopping (and restarting empty, as with --save "" when `wipe`): every bus sees it go. */
  setUp(up: boolean, wipe = true): void {
    if (this.reachable === up) return;
    this.reachable = up;
    if (!up && wipe) {
      this.rooms.clear();
      this.memberships.clear();
      this.instances.clear();
    }
    for (const bus of this.buses) queueMicrotask(() => bus.handlers?.status(up));
  }

  alive(instance: string): boolean {
    return (this.instances.get(instance) ?? 0) > this.now();
  }

  publish(channel: "events" | string, text: string): void {
    for (const bus of this.buses)
      if (channel === "events" || channel === bus.instanceId)
        queueMicrotask(() => {
          if (!this.reachable || !bus.handlers) return;
          if (channel === "events") bus.handlers.event(text);
          else bus.handlers.signal(text);
        });
  }
}

export class MemoryBus implements RoomBus {
  handlers: BusHandlers | null = null;

  constructor(
    private readonly world: MemoryWorld,
    readonly instanceId: string,
  ) {}

  get up(): boolean {
    return this.handlers !== null && this.world.up;
  }

  start(handlers: BusHandlers): void {
    this.handlers = handlers;
    this.world.buses.add(this);
    if (this.world.up) queueMicrotask(() => this.handlers?.status(true));
  }

  private check(): void {
    if (!this.up) throw new Error("the bus is down");
  }

  async heartbeat(ttlMs: number): Promise<Heartbeat> {
    this.check();
    const known = this.world.instances.has(this.instanceId);
    this.world.instances.set(this.instanceId, this.world.now() + ttlMs);
    const dead = [...this.world.instances.keys()].filter((id) => !this.world.alive(id));
    return { alive: this.world.instances.size - dead.length, known, dead };
  }

  async join(
    room: string,
    address: string,
    publicKey: string,
    caps: RoomCaps,
    force: boolean,
  ): Promise<BusJoin> {
    this.check();
    const w = this.world;
    let members = w.rooms.get(room);
    const prev = members?.get(address);
    if (!prev && !force && members) {
      if (members.size >= caps.peersPerRoom) return { ok: false, reason: "room-full" };
      let sessions = 0;
      for (const m of members.values()) if (m.publicKey === publicKey) sessions += 1;
      if (sessions >= caps.sessionsPerKey) return { ok: false, reason: "too-many-sessions" };
    }
    if (!members) {
      members = new Map();
      w.rooms.set(room, members);
    }
    members.set(address, { publicKey, instance: this.instanceId });
    const entry = `${room} ${address}`;
    if (prev && prev.instance !== this.instanceId) w.memberships.get(prev.instance)?.delete(entry);
    let mine = w.memberships.get(this.instanceId);
    if (!mine) {
      mine = new Set();
      w.memberships.set(this.instanceId, mine);
    }
    mine.add(entry);
    const list: BusMember[] = [...members].map(([a, m]) => ({ address: a, ...m }));
    return { ok: true, members: list, previous: prev ? prev.instance : null };
  }

  async leave(room: string, address: string): Promise<boolean> {
    this.check();
    return this.remove(this.instanceId, room, address);
  }

  private remove(instance: string, room: string, address: string): boolean {
    const members = this.world.rooms.get(room);
    this.world.memberships.get(instance)?.delete(`${room} ${address}`);
    if (members?.get(address)?.instance !== instance) return false;
    members.delete(address);
    if (members.size === 0) this.world.rooms.delete(room);
    return true;
  }

  async reap(instance: string): Promise<RoomAddress[]> {
    this.check();
    if (instance !== this.instanceId && this.world.alive(instance)) return [];
    const removed: RoomAddress[] = [];
    for (const entry of this.world.memberships.get(instance) ?? []) {
      const [room, address] = entry.split(" ") as [string, string];
      if (this.remove(instance, room, address)) removed.push({ room, address });
    }
    this.world.memberships.delete(instance);
    this.world.instances.delete(instance);
    return removed;
  }

  async publishEvent(text: string): Promise<void> {
    this.check();
    this.world.publish("events", text);
  }

  async publishSignal(instance: string, text: string): Promise<void> {
    this.check();
    this.world.publish(instance, text);
  }

  async close(): Promise<void> {
    this.handlers = null;
    this.world.buses.delete(this);
  }
}
