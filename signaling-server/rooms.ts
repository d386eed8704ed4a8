// The room registry: which sockets are in which room under which address, and
// the caps on both (maxRooms rooms, peersPerRoom members each, sessionsPerKey
// of them under one key). A room exists while it has a member; the maps only
// hold joined sockets, so they are bounded by the sockets the server admits and
// empty out as sockets leave.
import type { PeerInfo } from "../core/net/signaling-protocol.ts";
import type { Connection } from "./connection.ts";
import type { SignalingLimits } from "./limits.ts";

export interface Room {
  name: string;
  members: Map<string, Connection>;
  /** Members under each public key (one peer id, any number of sessions); only keys with a member. */
  keys: Map<string, number>;
}

/** Where a join lands: the room (created if new) and the socket already there under the same address, if any. */
export type Placement =
  | { room: Room; previous: Connection | undefined }
  | "too-many-rooms"
  | "room-full"
  | "too-many-sessions";

export class RoomRegistry {
  private readonly rooms = new Map<string, Room>();
  /** Members of all rooms together. */
  private members = 0;

  constructor(private readonly caps: Pick<SignalingLimits, "maxRooms" | "peersPerRoom" | "sessionsPerKey">) {}

  get size(): number {
    return this.rooms.size;
  }

  get peers(): number {
    return this.members;
  }

  /** The room called `name`, if it has a member here. */
  get(name: string): Room | undefined {
    return this.rooms.get(name);
  }

  /** Every room with a member here. */
  all(): IterableIterator<Room> {
    return this.rooms.values();
  }

  /**
   * The room `address` (of `publicKey`) may join as `name`, creating it if the
   * server may hold another; or why not. The same address again (a reconnect)
   * always fits; a new one needs a free place in the room and its key to hold
   * fewer than sessionsPerKey there.
   */
  place(name: string, address: string, publicKey: string): Placement {
    let room = this.rooms.get(name);
    const previous = room?.members.get(address);
    if (!room) {
      if (this.rooms.size >= this.caps.maxRooms) return "too-many-rooms";
      room = { name, members: new Map(), keys: new Map() };
      this.rooms.set(name, room);
    } else if (!previous) {
      if (room.members.size >= this.caps.peersPerRoom) return "room-full";
      if ((room.keys.get(publicKey) ?? 0) >= this.caps.sessionsPerKey) return "too-many-sessions";
    }
    return { room, previous };
  }

  /**
   * Adds `conn` to `room` under `address`; returns the other members. If
   * `previous` holds the address (a reconnect), `conn` takes its place and
   * `previous` is no longer in any room (its own leaving then changes
   * nothing): the room stays registered even if `previous` was its only member.
   */
  add(room: Room, address: string, conn: Connection, previous: Connection | undefined): PeerInfo[] {
    const peers: PeerInfo[] = [];
    for (const member of room.members.values())
      if (member !== previous) peers.push({ peer: member.address, publicKey: member.publicKey });
    if (previous) previous.room = null;
    else {
      this.members += 1;
      room.keys.set(conn.publicKey, (room.keys.get(conn.publicKey) ?? 0) + 1);
    }
    room.members.set(address, conn);
    return peers;
  }

  /**
   * Takes `conn` out of its room (a room left empty is gone); returns the room
   * if other members are left in it to be told, else null.
   */
  remove(conn: Connection): Room | null {
    const room = conn.room;
    if (!room) return null;
    conn.room = null;
    if (room.members.get(conn.address) !== conn) return null;
    room.members.delete(conn.address);
    this.members -= 1;
    const sessions = (room.keys.get(conn.publicKey) ?? 1) - 1;
    if (sessions > 0) room.keys.set(conn.publicKey, sessions);
    else room.keys.delete(conn.publicKey);
    if (room.members.size === 0) {
      this.rooms.delete(room.name);
      return null;
    }
    return room;
  }

  /** Forgets every room (at shutdown, when nobody is told anything). */
  clear(): void {
    this.rooms.clear();
    this.members = 0;
  }
}
