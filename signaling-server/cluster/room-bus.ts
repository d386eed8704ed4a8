// What instances share through Redis (redis-bus.ts) or, in tests, through one
// in-memory world (memory-bus.ts): room membership written atomically with the
// room caps checked across instances, per-instance heartbeats, the reaping of a
// dead instance's members, and two kinds of pub/sub message (room events for
// everyone, signals for one instance). Both implementations pass
// tests/acceptance/room-bus.suite.ts. Messages are parsed at this edge
// (bus-messages.ts): nothing from the bus is trusted to have our shape.

/** A member of a room as the bus holds it: its address, key, and the instance its socket is on. */
export interface BusMember {
  address: string;
  publicKey: string;
  instance: string;
}

export interface RoomCaps {
  peersPerRoom: number;
  sessionsPerKey: number;
}

export type BusJoin =
  | {
      ok: true;
      /** Every member after the join, the joining one included. */
      members: BusMember[];
      /** The instance that held this address before (a reconnect elsewhere), or null. */
      previous: string | null;
    }
  | { ok: false; reason: "room-full" | "too-many-sessions" };

/** A member a reap removed. */
export interface RoomAddress {
  room: string;
  address: string;
}

export interface Heartbeat {
  /** Instances whose heartbeat is alive, this one included. */
  alive: number;
  /** Whether the bus knew this instance already (false: new, reaped as dead, or the bus lost its data). */
  known: boolean;
  /** Instances seen before whose heartbeat ran out (to reap). */
  dead: string[];
}

export interface BusHandlers {
  /** A room event any instance published (bus-messages.ts parses it). */
  event(text: string): void;
  /** A signal published to this instance. */
  signal(text: string): void;
  /** The bus became reachable (true) or unreachable (false). */
  status(up: boolean): void;
}

export interface RoomBus {
  readonly instanceId: string;
  /** Whether commands can be sent now. */
  readonly up: boolean;
  /** Connects (retrying in the background until close()); `handlers` get everything from then on. */
  start(handlers: BusHandlers): void;
  /** Marks this instance alive for `ttlMs`. */
  heartbeat(ttlMs: number): Promise<Heartbeat>;
  /**
   * Adds (or moves here) `address` in `room`, unless the room is full or the
   * key holds sessionsPerKey there (an address already in the room always
   * fits; `force` skips the caps, for re-registering after an outage).
   */
  join(room: string, address: string, publicKey: string, caps: RoomCaps, force: boolean): Promise<BusJoin>;
  /** Removes `address` from `room` if this instance holds it; whether it did. */
  leave(room: string, address: string): Promise<boolean>;
  /**
   * Removes every member `instance` holds, unless its heartbeat is alive (or
   * it is this instance, at close); returns what this call removed (so only
   * one reaper announces each).
   */
  reap(instance: string): Promise<RoomAddress[]>;
  publishEvent(text: string): Promise<void>;
  publishSignal(instance: string, text: string): Promise<void>;
  /** Ends the connections and every timer; the handlers hear nothing more. */
  close(): Promise<void>;
}

/** Redis keys and channels (PROTOCOL.md, "Several instances"). */
export const KEYS = {
  instances: "sc:instances",
  instance: (id: string) => `sc:inst:${id}`,
  room: (room: string) => `sc:room:${room}`,
  memberships: (id: string) => `sc:mem:${id}`,
  events: "sc:events",
  signals: (id: string) => `sc:to:${id}`,
} as const;

export const INSTANCE_ID_PATTERN = /^[0-9a-f]{16}$/;
