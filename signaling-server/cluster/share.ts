// One instance's part in a shared room set: what the hub asks (join across
// instances, relay to a member on another instance, leave) and what it does
// with what the others publish (their members joining and leaving, signals for
// its sockets). It keeps the remote members of the rooms it has local members
// in (or a join in flight for), heartbeats its instance, and reaps instances
// whose heartbeat ran out. When the bus goes away it forgets the remote members
// (its peers hear peer-left) and runs alone; when the bus is back it registers
// its members again and its peers learn the others anew.
import { encodeMessage, type PeerInfo } from "../../core/net/signaling-protocol.ts";
import { CLOSE, type Connection } from "../connection.ts";
import type { Room, RoomRegistry } from "../rooms.ts";
import type { Switchboard } from "../switchboard.ts";
import { encodeEvent, encodeSignal, parseEvent, parseSignals, type RoomEvent } from "./bus-messages.ts";
import type { ClusterStats } from "./cluster-stats.ts";
import type { BusMember, RoomBus, RoomCaps } from "./room-bus.ts";
import { SignalBatcher } from "./signal-batch.ts";

export interface ShareOptions {
  instanceId: string;
  /** The bus for this instance (imported on demand: Redis's client is loaded only when used). */
  openBus: (instanceId: string) => RoomBus | Promise<RoomBus>;
  /** How often the instance refreshes its heartbeat and looks for dead ones… */
  heartbeatIntervalMs: number;
  /** …and how long its heartbeat lives unrefreshed. */
  instanceTtlMs: number;
  caps: RoomCaps;
  /** Where the lines about the bus going and coming go. */
  log: (line: string) => void;
  /** For the log: where the bus is (no password). */
  where: string;
}

interface Remote {
  publicKey: string;
  instance: string;
}

/** What a join across instances came to: "alone" when the bus is away (the hub joins locally only). */
export type ShareJoin = "ok" | "alone" | "room-full" | "too-many-sessions";

/** How long close() waits for the bus to take this instance's members out. */
const CLOSE_BOUND_MS = 1_000;

/** Leaves remembered through an outage at most (beyond that they stay in Redis until the instance goes). */
const MAX_LEFT_WHILE_AWAY = 100_000;

export class RoomShare {
  /** Set once opened; `sharing` implies it. */
  private bus: RoomBus | null = null;
  /** Remote members of each room tracked here. */
  private readonly remote = new Map<string, Map<string, Remote>>();
  /** Joins awaiting the bus, per room (such a room is tracked though it may have no member here yet). */
  private readonly pending = new Map<string, number>();
  private sharing = false;
  private everUp = false;
  /** Whether the log has said the bus is unreachable (and it has not come back since). */
  private toldDown = false;
  /** The bus is connected but did not answer a heartbeat within the TTL: treated as away until it does. */
  private hung = false;
  /** Back from an outage (or new): the next heartbeat writes the local members again. */
  private unregistered = true;
  /** Members that left while the bus was away ("room address"), to take out of it when it is back. */
  private readonly leftWhileAway = new Set<string>();
  private closed = false;
  private ticking = false;
  private instances = 1;
  private published = 0;
  private delivered = 0;
  /** Ended by close(). */
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Signals for other instances, one PUBLISH per instance and turn. Ended by close(). */
  private readonly batcher = new SignalBatcher((instance, text) => {
    this.bus?.publishSignal(instance, text).catch(() => undefined);
  });

  constructor(
    private readonly options: ShareOptions,
    private readonly rooms: RoomRegistry,
    private readonly board: Switchboard,
  ) {}

  get instanceId(): string {
    return this.options.instanceId;
  }

  async start(): Promise<void> {
    const bus = await this.options.openBus(this.instanceId);
    if (this.closed) {
      await bus.close();
      return;
    }
    this.bus = bus;
    bus.start({
      event: (text) => this.onEvent(text),
      signal: (text) => this.onSignals(text),
      status: (up) => this.onStatus(up),
    });
    this.timer = setInterval(() => void this.tick(), this.options.heartbeatIntervalMs);
  }

  stats(): ClusterStats {
    let remotePeers = 0;
    for (const members of this.remote.values()) remotePeers += members.size;
    return {
      mode: "redis",
      redisUp: this.sharing,
      instanceId: this.instanceId,
      instances: this.sharing ? this.instances : 1,
      remotePeers,
      published: this.published,
      delivered: this.delivered,
    };
  }

  /** Places `address` in `room` across instances (the caps counted over all of them). */
  async join(room: string, address: string, publicKey: string): Promise<ShareJoin> {
    const bus = this.bus;
    if (!this.sharing || !bus) return "alone";
    this.pending.set(room, (this.pending.get(room) ?? 0) + 1);
    try {
      const placed = await bus.join(room, address, publicKey, this.options.caps, false);
      if (!placed.ok) return placed.reason;
      // Members whose own event is still on its way: the local peers hear of them now (and not twice).
      this.merge(room, address, placed.members, this.rooms.get(room) ?? null);
      return "ok";
    } catch {
      // Joined here only: the next heartbeat writes it (and every local member) again.
      this.unregistered = true;
      return "alone";
    } finally {
      const n = (this.pending.get(room) ?? 1) - 1;
      if (n > 0) this.pending.set(room, n);
      else this.pending.delete(room);
    }
  }

  /** The remote members of `room` but `except`, for a "joined". */
  peersOf(room: string, except: string): PeerInfo[] {
    const peers: PeerInfo[] = [];
    for (const [peer, m] of this.remote.get(room) ?? [])
      if (peer !== except) peers.push({ peer, publicKey: m.publicKey });
    return peers;
  }

  /** `address` has joined `room` here: the other instances hear it. */
  joined(room: string, address: string, publicKey: string): void {
    if (!this.sharing) return;
    this.publish({
      kind: "join",
      origin: this.instanceId,
      room,
      peer: address,
      publicKey,
      instance: this.instanceId,
    });
  }

  /** `address` has left `room` here (its socket is gone, not replaced here). */
  left(room: string, address: string): void {
    this.untrackIfEmpty(room);
    const bus = this.bus;
    if (!this.sharing || !bus) {
      // Redis may have kept it through the outage: taken out when it is back.
      if (this.leftWhileAway.size < MAX_LEFT_WHILE_AWAY) this.leftWhileAway.add(`${room} ${address}`);
      return;
    }
    this.leaveShared(bus, room, address);
  }

  private leaveShared(bus: RoomBus, room: string, address: string): void {
    bus.leave(room, address).then(
      (removed) => {
        if (removed)
          this.publish({
            kind: "leave",
            origin: this.instanceId,
            room,
            peer: address,
            instance: this.instanceId,
          });
      },
      () => undefined,
    );
  }

  /** Passes a signal to `to` if it is a member of the sender's room on another instance. */
  relay(from: Connection, to: string, data: unknown): boolean {
    const room = from.room;
    const target = room && this.remote.get(room.name)?.get(to);
    if (!target || !this.bus) return false;
    this.batcher.add(target.instance, encodeSignal({ room: room.name, from: from.address, to, data }));
    this.published += 1;
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.batcher.flush();
    const bus = this.bus;
    if (this.sharing && bus) {
      // Out of every room at once, so the others' peers hear peer-left now, not after the TTL.
      const leaving = bus.reap(this.instanceId).then(async (removed) => {
        await Promise.all(
          removed.map(({ room, address }) =>
            bus.publishEvent(
              encodeEvent({
                kind: "leave",
                origin: this.instanceId,
                room,
                peer: address,
                instance: this.instanceId,
              }),
            ),
          ),
        );
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        leaving.catch(() => undefined),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_BOUND_MS))),
      ]);
      clearTimeout(timer);
    }
    this.sharing = false;
    this.remote.clear();
    await bus?.close();
  }

  private publish(event: RoomEvent): void {
    this.bus?.publishEvent(encodeEvent(event)).catch(() => undefined);
  }

  private tracked(room: string): boolean {
    return this.rooms.get(room) !== undefined || this.pending.has(room);
  }

  private remoteOf(room: string): Map<string, Remote> {
    let map = this.remote.get(room);
    if (!map) {
      map = new Map();
      this.remote.set(room, map);
    }
    return map;
  }

  private untrackIfEmpty(room: string): void {
    if (!this.tracked(room)) this.remote.delete(room);
  }

  /** Takes in a room's members as the bus listed them; with `announce`, the local members hear of new ones. */
  private merge(room: string, self: string | null, members: BusMember[], announce: Room | null): void {
    const map = this.remoteOf(room);
    if (self !== null) map.delete(self);
    for (const m of members) {
      if (m.instance === this.instanceId || m.address === self) continue;
      const known = map.get(m.address);
      map.set(m.address, { publicKey: m.publicKey, instance: m.instance });
      if (announce && !known) this.announceJoin(announce, m.address, m.publicKey);
    }
  }

  private announceJoin(room: Room, peer: string, publicKey: string): void {
    this.board.broadcast(room, null, encodeMessage({ type: "peer-joined", peer: { peer, publicKey } }));
  }

  private announceLeave(roomName: string, peer: string): void {
    const room = this.rooms.get(roomName);
    if (room) this.board.broadcast(room, null, encodeMessage({ type: "peer-left", peer }));
  }

  private onEvent(text: string): void {
    const event = parseEvent(text);
    if (!event || event.origin === this.instanceId || !this.sharing) return;
    if (!this.tracked(event.room)) return;
    if (event.kind === "leave") {
      this.removeRemote(event.room, event.peer, event.instance);
      return;
    }
    if (event.instance === this.instanceId) return;
    let room = this.rooms.get(event.room);
    const local = room?.members.get(event.peer);
    if (local) {
      // The same peer reconnected on another instance: it moves there, and the
      // old socket goes as "replaced" without a peer-left (the address stays).
      this.rooms.remove(local);
      this.board.drop(local, CLOSE.REPLACED, "replaced");
      room = this.rooms.get(event.room);
      if (!this.tracked(event.room)) {
        this.remote.delete(event.room);
        return;
      }
    }
    const map = this.remoteOf(event.room);
    const known = map.get(event.peer);
    map.set(event.peer, { publicKey: event.publicKey, instance: event.instance });
    // Already listed (from a join's or a re-registration's member list): the local peers know it.
    if (known?.instance === event.instance && known.publicKey === event.publicKey) return;
    if (room && !local) this.announceJoin(room, event.peer, event.publicKey);
  }

  private removeRemote(room: string, peer: string, instance: string): void {
    const map = this.remote.get(room);
    if (map?.get(peer)?.instance !== instance) return;
    map.delete(peer);
    this.announceLeave(room, peer);
  }

  private onSignals(text: string): void {
    for (const s of parseSignals(text)) {
      const target = this.rooms.get(s.room)?.members.get(s.to);
      // Only between members of one room: the sender must be a remote member of the target's room.
      if (!target || !this.remote.get(s.room)?.has(s.from)) continue;
      const out = `{"type":"signal","from":"${s.from}","data":${JSON.stringify(s.data)}}`;
      if (this.board.send(target, out)) this.delivered += 1;
    }
  }

  private onStatus(up: boolean, why = "no connection"): void {
    if (this.closed || (up && this.sharing) || (!up && this.toldDown)) return;
    if (!up) {
      this.sharing = false;
      this.toldDown = true;
      this.instances = 1;
      this.options.log(`redis unreachable (${this.options.where}, ${why}): running as a single instance`);
      this.batcher.clear();
      for (const [room, map] of this.remote) for (const peer of map.keys()) this.announceLeave(room, peer);
      this.remote.clear();
      return;
    }
    this.sharing = true;
    this.toldDown = false;
    this.hung = false;
    // Whatever Redis kept or lost meanwhile: write the local members again and learn the others'.
    this.unregistered = true;
    this.options.log(
      this.everUp
        ? "redis reachable again: sharing rooms"
        : `redis reachable (${this.options.where}): sharing rooms as instance ${this.instanceId}`,
    );
    this.everUp = true;
    void this.tick();
  }

  /** The heartbeat; registers this instance's members when the bus did not know it; reaps dead instances. */
  private async tick(): Promise<void> {
    const bus = this.bus;
    if (!(this.sharing || this.hung) || this.ticking || this.closed || !bus) return;
    this.ticking = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // A Redis that stops answering but keeps the connection open is as good as gone.
      const silent = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), this.options.instanceTtlMs);
      });
      const beat = await Promise.race([bus.heartbeat(this.options.instanceTtlMs), silent]);
      clearTimeout(timer);
      if (beat === null) {
        if (this.sharing) {
          this.hung = true;
          this.onStatus(false, "no answer");
        }
        return;
      }
      if (this.hung) {
        this.hung = false;
        this.onStatus(true);
        return;
      }
      this.instances = beat.alive;
      if (!beat.known || this.unregistered) {
        await this.register();
        this.unregistered = false;
      }
      for (const dead of beat.dead) {
        const removed = await bus.reap(dead);
        for (const { room, address } of removed) {
          this.publish({ kind: "leave", origin: this.instanceId, room, peer: address, instance: dead });
          this.removeRemote(room, address, dead);
        }
      }
    } catch {
      // The bus went away mid-way: its status handler says so; the next tick tries again.
    } finally {
      clearTimeout(timer);
      this.ticking = false;
    }
  }

  /** Puts every local member (back) on the bus, learns the rooms' other members, and tells the others. */
  private async register(): Promise<void> {
    const bus = this.bus;
    if (!bus) return;
    for (const entry of this.leftWhileAway) {
      const [room, address] = entry.split(" ") as [string, string];
      if (!this.rooms.get(room)?.members.has(address)) this.leaveShared(bus, room, address);
    }
    this.leftWhileAway.clear();
    for (const room of [...this.rooms.all()]) {
      for (const [address, conn] of [...room.members]) {
        const placed = await bus.join(room.name, address, conn.publicKey, this.options.caps, true);
        if (!this.sharing) return;
        const now = this.rooms.get(room.name);
        if (placed.ok && now) this.merge(room.name, null, placed.members, now);
        this.joined(room.name, address, conn.publicKey);
      }
    }
  }
}
