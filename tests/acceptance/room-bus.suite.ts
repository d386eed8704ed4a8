// What every room bus does, whatever carries it: the Redis bus (on a real
// redis-server) and the in-memory twin that hub tests use both run this suite,
// so the twin cannot drift from Redis (atomic joins under the caps, a move of
// an address between instances, heartbeats that expire, reaps only one caller
// wins, pub/sub to everyone or one instance).
import { afterEach, describe, expect, it } from "vitest";
import type { BusHandlers, RoomBus } from "../../signaling-server/cluster/room-bus.ts";
import { eventually } from "../helpers/eventually.ts";

export interface BusWorld {
  /** A bus for instance `id` on this world (not started). */
  bus(id: string): RoomBus;
  /** Ends the world (every bus is closed by the suite first). */
  end(): Promise<void>;
}

/** What a started bus heard. */
interface Heard {
  bus: RoomBus;
  events: string[];
  signals: string[];
  statuses: boolean[];
}

const CAPS = { peersPerRoom: 3, sessionsPerKey: 2 };
const KEY_A = "A".repeat(43);
const KEY_B = "B".repeat(43);
const KEY_C = "C".repeat(43);
const I1 = "1111111111111111";
const I2 = "2222222222222222";
const I3 = "3333333333333333";
const peer = (n: number, session = "s") => `${n.toString(16).padStart(32, "0")}.${session}`;

export function describeRoomBus(name: string, createWorld: () => Promise<BusWorld>) {
  describe(`RoomBus: ${name}`, () => {
    let world: BusWorld | null = null;
    const started: Heard[] = [];

    async function start(id: string): Promise<Heard> {
      world ??= await createWorld();
      const bus = world.bus(id);
      const heard: Heard = { bus, events: [], signals: [], statuses: [] };
      const handlers: BusHandlers = {
        event: (t) => heard.events.push(t),
        signal: (t) => heard.signals.push(t),
        status: (up) => heard.statuses.push(up),
      };
      bus.start(handlers);
      started.push(heard);
      await eventually(`bus ${id} is up`, () => bus.up && heard.statuses.at(-1) === true);
      return heard;
    }

    afterEach(async () => {
      await Promise.all(started.splice(0).map((h) => h.bus.close()));
      await world?.end();
      world = null;
    });

    it("lists a room's members after each join, the joining one included", async () => {
      const { bus: one } = await start(I1);
      const { bus: two } = await start(I2);
      expect(await one.join("r", peer(1), KEY_A, CAPS, false)).toEqual({
        ok: true,
        previous: null,
        members: [{ address: peer(1), publicKey: KEY_A, instance: I1 }],
      });
      const second = await two.join("r", peer(2), KEY_B, CAPS, false);
      expect(second.ok && [...second.members].sort((x, y) => x.address.localeCompare(y.address))).toEqual([
        { address: peer(1), publicKey: KEY_A, instance: I1 },
        { address: peer(2), publicKey: KEY_B, instance: I2 },
      ]);
      const other = await two.join("elsewhere", peer(3), KEY_C, CAPS, false);
      expect(other.ok && other.members).toEqual([{ address: peer(3), publicKey: KEY_C, instance: I2 }]);
    });

    it("holds peersPerRoom and sessionsPerKey over all instances; the same address again always fits", async () => {
      const { bus: one } = await start(I1);
      const { bus: two } = await start(I2);
      expect((await one.join("r", peer(1, "a"), KEY_A, CAPS, false)).ok).toBe(true);
      expect((await two.join("r", peer(1, "b"), KEY_A, CAPS, false)).ok).toBe(true);
      expect(await one.join("r", peer(1, "c"), KEY_A, CAPS, false)).toEqual({
        ok: false,
        reason: "too-many-sessions",
      });
      expect((await one.join("r", peer(2), KEY_B, CAPS, false)).ok).toBe(true);
      expect(await two.join("r", peer(3), KEY_C, CAPS, false)).toEqual({ ok: false, reason: "room-full" });
      // A reconnect of a member, on either instance, fits a full room.
      expect((await two.join("r", peer(2), KEY_B, CAPS, false)).ok).toBe(true);
      // Re-registering after an outage skips the caps.
      expect((await two.join("r", peer(3), KEY_C, CAPS, true)).ok).toBe(true);
    });

    it("moves an address that joins on another instance, and says from where", async () => {
      const { bus: one } = await start(I1);
      const { bus: two } = await start(I2);
      await one.join("r", peer(1), KEY_A, CAPS, false);
      const moved = await two.join("r", peer(1), KEY_A, CAPS, false);
      expect(moved).toEqual({
        ok: true,
        previous: I1,
        members: [{ address: peer(1), publicKey: KEY_A, instance: I2 }],
      });
      // The old instance no longer holds it: its leave removes nothing.
      expect(await one.leave("r", peer(1))).toBe(false);
      expect(await two.leave("r", peer(1))).toBe(true);
      expect(await two.leave("r", peer(1))).toBe(false);
      const fresh = await one.join("r", peer(2), KEY_B, CAPS, false);
      expect(fresh.ok && fresh.members).toEqual([{ address: peer(2), publicKey: KEY_B, instance: I1 }]);
    });

    it("counts instances by their heartbeat, and lists the ones whose heartbeat ran out", async () => {
      const { bus: one } = await start(I1);
      const { bus: two } = await start(I2);
      expect(await one.heartbeat(60_000)).toEqual({ alive: 1, known: false, dead: [] });
      expect(await one.heartbeat(60_000)).toEqual({ alive: 1, known: true, dead: [] });
      expect(await two.heartbeat(50)).toEqual({ alive: 2, known: false, dead: [] });
      await eventually("two's heartbeat runs out", async () => (await one.heartbeat(60_000)).alive === 1);
      expect(await one.heartbeat(60_000)).toEqual({ alive: 1, known: true, dead: [I2] });
    });

    it("reaps a dead instance's members once, but not the ones that moved, and not while it is alive", async () => {
      const { bus: one } = await start(I1);
      const { bus: two } = await start(I2);
      const { bus: three } = await start(I3);
      await two.heartbeat(60_000);
      await two.join("r", peer(1), KEY_A, CAPS, false);
      await two.join("r", peer(2), KEY_B, CAPS, false);
      await two.join("s", peer(3), KEY_C, CAPS, false);
      await one.join("r", peer(2), KEY_B, CAPS, false); // moved to one
      expect(await one.reap(I2)).toEqual([]); // alive
      await two.heartbeat(50);
      await eventually("two's heartbeat runs out", async () =>
        (await one.heartbeat(60_000)).dead.includes(I2),
      );
      const [first, second] = await Promise.all([one.reap(I2), three.reap(I2)]);
      const removed = [...first, ...second].sort((x, y) => x.address.localeCompare(y.address));
      expect(removed).toEqual([
        { room: "r", address: peer(1) },
        { room: "s", address: peer(3) },
      ]);
      expect(first.length === 0 || second.length === 0).toBe(true);
      const left = await three.join("r", peer(4), KEY_C, CAPS, false);
      expect(left.ok && left.members.map((m) => m.address).sort()).toEqual([peer(2), peer(4)]);
      expect((await one.heartbeat(60_000)).dead).toEqual([]);
    });

    it("takes this instance's own members out at once (at close), alive or not", async () => {
      const { bus: one } = await start(I1);
      const { bus: two } = await start(I2);
      await one.heartbeat(60_000);
      await one.join("r", peer(1), KEY_A, CAPS, false);
      expect(await one.reap(I1)).toEqual([{ room: "r", address: peer(1) }]);
      const after = await two.join("r", peer(2), KEY_B, CAPS, false);
      expect(after.ok && after.members.map((m) => m.address)).toEqual([peer(2)]);
    });

    it("delivers events to every instance (itself too) and signals to the one named", async () => {
      const one = await start(I1);
      const two = await start(I2);
      const three = await start(I3);
      await one.bus.publishEvent("hello all");
      await one.bus.publishSignal(I2, "for two");
      await eventually("everyone has the event", () =>
        [one, two, three].every((h) => h.events.includes("hello all")),
      );
      await eventually("two has its signal", () => two.signals.includes("for two"));
      await three.bus.publishSignal(I3, "for three");
      await eventually("three has its own", () => three.signals.includes("for three"));
      expect(one.signals).toEqual([]);
      expect(two.signals).toEqual(["for two"]);
    });

    it("hears nothing once closed", async () => {
      const one = await start(I1);
      const two = await start(I2);
      await two.bus.close();
      await one.bus.publishEvent("after close");
      await one.bus.publishSignal(I2, "after close");
      await eventually("one has it", () => one.events.includes("after close"));
      expect(two.events).toEqual([]);
      expect(two.signals).toEqual([]);
      expect(two.bus.up).toBe(false);
    });
  });
}
