// The room bus on Redis (node-redis): one connection for commands and scripts,
// one subscribed to the events channel and this instance's signal channel.
// Commands are never queued while Redis is away (disableOfflineQueue: they
// fail at once and the hub carries on alone); node-redis reconnects in the
// background and resubscribes, and `status` tells the share when either
// connection goes or both are back. Imported only when REDIS_URL is set.
import { createClient } from "redis";
import { HEARTBEAT, JOIN, LEAVE, REAP } from "./redis-scripts.ts";
import {
  type BusHandlers,
  type BusJoin,
  type BusMember,
  type Heartbeat,
  INSTANCE_ID_PATTERN,
  KEYS,
  type RoomAddress,
  type RoomBus,
  type RoomCaps,
} from "./room-bus.ts";

export interface RedisBusOptions {
  url: string;
  instanceId: string;
  /** Waits between reconnection attempts, at most this long. */
  maxReconnectDelayMs?: number;
}

type Client = ReturnType<typeof createClient>;

/** Commands waiting for Redis's reply at most (batched signals, joins, leaves, heartbeats). */
const COMMANDS_QUEUE_MAX = 10_000;

function strings(reply: unknown): string[] {
  return Array.isArray(reply) ? reply.map((v) => String(v)) : [];
}

export class RedisBus implements RoomBus {
  readonly instanceId: string;
  private readonly cmd: Client;
  private readonly sub: Client;
  private handlers: BusHandlers | null = null;
  /** What the handlers were last told (null: nothing yet). */
  private told: boolean | null = null;
  private closed = false;

  constructor(options: RedisBusOptions) {
    this.instanceId = options.instanceId;
    const maxDelay = options.maxReconnectDelayMs ?? 1_000;
    this.cmd = createClient({
      url: options.url,
      disableOfflineQueue: true,
      // A Redis that stops answering without closing the connection: commands
      // awaiting a reply are bounded too (beyond this they fail at once).
      commandsQueueMaxLength: COMMANDS_QUEUE_MAX,
      socket: {
        connectTimeout: 2_000,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 10), maxDelay),
      },
    });
    this.sub = this.cmd.duplicate();
    for (const client of [this.cmd, this.sub]) {
      // Every failure shows as `status(false)` (and the share's one log line), not a log per retry.
      client.on("error", () => this.check(true));
      client.on("ready", () => this.check(false));
      client.on("end", () => this.check(true));
      client.on("reconnecting", () => this.check(true));
    }
  }

  get up(): boolean {
    return !this.closed && this.cmd.isReady && this.sub.isReady;
  }

  start(handlers: BusHandlers): void {
    this.handlers = handlers;
    // Connects (and keeps retrying) in the background; subscribing first means
    // the channel is there whenever the subscriber connection is.
    const onEvent = (text: string) => this.handlers?.event(text);
    const onSignal = (text: string) => this.handlers?.signal(text);
    void this.sub
      .connect()
      .then(() => this.sub.subscribe(KEYS.events, onEvent))
      .then(() => this.sub.subscribe(KEYS.signals(this.instanceId), onSignal))
      .then(() => this.check(false))
      .catch(() => this.check(true));
    void this.cmd
      .connect()
      .then(() => this.check(false))
      .catch(() => this.check(true));
  }

  private subscribed(): boolean {
    return this.sub.isReady;
  }

  /**
   * Tells the handlers when reachability changed; at the start, "down" only
   * once a connection has failed (not while the first two are still coming up).
   */
  private check(failed: boolean): void {
    const up = this.up && this.subscribed();
    if (up === this.told || this.closed || (!up && !failed && this.told === null)) return;
    this.told = up;
    this.handlers?.status(up);
  }

  async heartbeat(ttlMs: number): Promise<Heartbeat> {
    const reply = strings(
      await this.cmd.eval(HEARTBEAT, {
        keys: [KEYS.instance(this.instanceId), KEYS.instances],
        arguments: [this.instanceId, String(ttlMs), KEYS.instance("")],
      }),
    );
    const [alive = "0", known = "0", ...dead] = reply;
    return {
      alive: Number(alive),
      known: known === "1",
      dead: dead.filter((id) => INSTANCE_ID_PATTERN.test(id)),
    };
  }

  async join(
    room: string,
    address: string,
    publicKey: string,
    caps: RoomCaps,
    force: boolean,
  ): Promise<BusJoin> {
    const reply = strings(
      await this.cmd.eval(JOIN, {
        keys: [KEYS.room(room), KEYS.memberships(this.instanceId)],
        arguments: [
          address,
          publicKey,
          this.instanceId,
          String(caps.peersPerRoom),
          String(caps.sessionsPerKey),
          force ? "1" : "0",
          `${room} ${address}`,
          KEYS.memberships(""),
        ],
      }),
    );
    const [verdict, previous, ...flat] = reply;
    if (verdict === "room-full" || verdict === "too-many-sessions") return { ok: false, reason: verdict };
    if (verdict !== "ok") throw new Error(`unexpected join reply from Redis: ${String(verdict)}`);
    const members: BusMember[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const value = flat[i + 1]!;
      const bar = value.indexOf("|");
      if (bar < 0) continue;
      members.push({ address: flat[i]!, instance: value.slice(0, bar), publicKey: value.slice(bar + 1) });
    }
    return { ok: true, members, previous: previous || null };
  }

  async leave(room: string, address: string): Promise<boolean> {
    const removed = await this.cmd.eval(LEAVE, {
      keys: [KEYS.room(room), KEYS.memberships(this.instanceId)],
      arguments: [address, this.instanceId, `${room} ${address}`],
    });
    return Number(removed) === 1;
  }

  async reap(instance: string): Promise<RoomAddress[]> {
    const removed = strings(
      await this.cmd.eval(REAP, {
        keys: [KEYS.memberships(instance), KEYS.instance(instance), KEYS.instances],
        arguments: [instance, instance === this.instanceId ? "1" : "0", KEYS.room("")],
      }),
    );
    return removed.map((entry) => {
      const sp = entry.indexOf(" ");
      return { room: entry.slice(0, sp), address: entry.slice(sp + 1) };
    });
  }

  async publishEvent(text: string): Promise<void> {
    await this.cmd.publish(KEYS.events, text);
  }

  async publishSignal(instance: string, text: string): Promise<void> {
    await this.cmd.publish(KEYS.signals(instance), text);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handlers = null;
    await Promise.all(
      [this.cmd, this.sub].map(async (client) => {
        try {
          if (client.isOpen) client.destroy();
        } catch {
          // already closed
        }
      }),
    );
  }
}
