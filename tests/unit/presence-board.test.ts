import { describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { ChannelRouter, type MeshPort, type PeerChannel, type Protocol } from "../../core/net/channels.ts";
import { peerAddress } from "../../core/net/peer-address.ts";
import { PRESENCE_KIND, type Presence, signPresence } from "../../core/state/presence.ts";
import {
  PRESENCE_PROTOCOL,
  PresenceBoard,
  type PresenceBoardOptions,
} from "../../core/state/presence-board.ts";
import { ManualClock } from "../../core/util/clock.ts";
import { Emitter } from "../../core/util/emitter.ts";
import { eventually } from "../helpers/eventually.ts";

/** Lets async work (WebCrypto included) run until `condition` holds (the board's clock stays put). */
const until = (condition: () => boolean, what = "condition") =>
  eventually(what, condition, { intervalMs: 1 });

const flush = async () => {
  for (let i = 0; i < 40; i++) await new Promise<void>((r) => setImmediate(r));
};

/** A mesh end that delivers to the other ends it is linked with (a chain, a star...). */
class FakeMesh implements MeshPort {
  readonly events = new Emitter<{ open: (remote: string) => void; close: (remote: string) => void }>();
  readonly links = new Map<string, FakeMesh>();
  readonly router = new ChannelRouter(
    (remote, frame) => this.sendFrame(remote, frame),
    (frame, except) => {
      let n = 0;
      for (const r of this.links.keys()) if (r !== except && this.sendFrame(r, frame)) n++;
      return n;
    },
  );
  constructor(readonly self: string) {}
  link(other: FakeMesh): void {
    this.links.set(other.self, other);
    other.links.set(this.self, this);
    this.events.emit("open", other.self);
    other.events.emit("open", this.self);
  }
  channel(protocol: Protocol): PeerChannel {
    return this.router.channel(protocol);
  }
  on(event: "open" | "close", handler: (remote: string) => void): () => void {
    return this.events.on(event, handler);
  }
  private sendFrame(remote: string, frame: Uint8Array): boolean {
    const to = this.links.get(remote);
    if (!to) return false;
    queueMicrotask(() => to.router.deliver(this.self, frame.slice()));
    return true;
  }
  openLinks(): string[] {
    return [...this.links.keys()];
  }
  isOpen(remote: string): boolean {
    return this.links.has(remote);
  }
  bufferedBytes(): number {
    return 0;
  }
  rttMs(): number | null {
    return null;
  }
  pin(): void {}
  unpin(): void {}
}

async function member(clock: ManualClock, options: Partial<PresenceBoardOptions> = {}) {
  const identity = await createIdentity();
  const address = peerAddress(identity.peerId, "s");
  const mesh = new FakeMesh(address);
  const board = new PresenceBoard({
    mesh,
    clock,
    now: () => 1_000_000 + clock.nowMs(),
    staleMs: 3000,
    ...options,
  });
  board.start();
  return { identity, address, mesh, board };
}

const presenceOf = (identity: Identity, address: string, at: number, contributing = false): Presence => ({
  peer: address,
  boxKey: identity.box.publicKey,
  name: "",
  appVersion: "test",
  capacity: { contributing, cores: 1, memoryMiB: 0, budgetPct: 0, slots: 1 },
  load: { vms: 0, usedPct: 0 },
  at,
});

describe("PresenceBoard", () => {
  it("floods signed presence through peers not directly linked; the newest `at` wins", async () => {
    const clock = new ManualClock();
    const [a, b, c] = [await member(clock), await member(clock), await member(clock)];
    a.mesh.link(b.mesh);
    b.mesh.link(c.mesh);
    await a.board.publish(a.identity, await signPresence(a.identity, presenceOf(a.identity, a.address, 10)));
    await until(() => c.board.presences().has(a.address));
    expect(c.board.presences().get(a.address)?.presence.at).toBe(10);
    const older = await signPresence(a.identity, presenceOf(a.identity, a.address, 5, true));
    const newer = await signPresence(a.identity, presenceOf(a.identity, a.address, 20, true));
    await a.board.publish(a.identity, newer);
    // A replay of an older one, sent straight to c, changes nothing.
    b.mesh.channel(PRESENCE_PROTOCOL).send(c.address, new TextEncoder().encode(JSON.stringify([older])));
    await until(() => c.board.presences().get(a.address)?.presence.at === 20 && c.board.stats.old > 0);
    expect(c.board.presences().get(a.address)?.presence).toMatchObject({
      at: 20,
      capacity: { contributing: true },
    });
    expect(c.board.stats.old).toBeGreaterThan(0);
  });

  it("takes presence for an address only from that address's key", async () => {
    const clock = new ManualClock();
    const [victim, mallory, reader] = [await member(clock), await member(clock), await member(clock)];
    mallory.mesh.link(reader.mesh);
    const forged = await signEntry(
      mallory.identity,
      PRESENCE_KIND,
      presenceOf(victim.identity, victim.address, 99),
    );
    mallory.mesh
      .channel(PRESENCE_PROTOCOL)
      .broadcast(new TextEncoder().encode(JSON.stringify([forged, 1, {}])));
    mallory.mesh.channel(PRESENCE_PROTOCOL).broadcast(new TextEncoder().encode("not json"));
    await until(() => reader.board.stats.invalid === 3 && reader.board.stats.badMessages === 1);
    expect(reader.board.presences().has(victim.address)).toBe(false);
    expect(reader.board.stats.invalid).toBe(3);
    expect(reader.board.stats.badMessages).toBe(1);
  });

  it("drops presence nobody renewed, on its clock; a signed gone removes it at once", async () => {
    const clock = new ManualClock();
    const [a, b, c] = [await member(clock), await member(clock), await member(clock)];
    a.mesh.link(b.mesh);
    c.mesh.link(b.mesh);
    await a.board.publish(a.identity, await signPresence(a.identity, presenceOf(a.identity, a.address, 1)));
    await c.board.publish(c.identity, await signPresence(c.identity, presenceOf(c.identity, c.address, 1)));
    await until(() => b.board.presences().size === 2);
    expect([...b.board.presences().keys()].sort()).toEqual([a.address, c.address].sort());
    c.board.stop(); // c leaves: its gone reaches b
    await until(() => !b.board.presences().has(c.address));
    expect(b.board.presences().has(c.address)).toBe(false);
    await clock.advance(2000, flush);
    expect(b.board.presences().has(a.address)).toBe(true);
    await clock.advance(3000, flush);
    expect(b.board.presences().has(a.address)).toBe(false);
    expect(b.board.stats.expired).toBeGreaterThan(0);
    expect(a.board.presences().has(a.address)).toBe(true); // its own stays
  });

  it("holds at most maxEntries addresses and checks at most its rate per link", async () => {
    const clock = new ManualClock();
    const reader = await member(clock, { maxEntries: 4, ratePerSecond: 2, burst: 3 });
    const sender = await member(clock);
    sender.mesh.link(reader.mesh);
    const signers = await Promise.all(Array.from({ length: 6 }, () => createIdentity()));
    const entries = await Promise.all(
      signers.map((s) => signPresence(s, presenceOf(s, peerAddress(s.peerId, "s"), 1))),
    );
    const channel = sender.mesh.channel(PRESENCE_PROTOCOL);
    channel.broadcast(new TextEncoder().encode(JSON.stringify(entries.slice(0, 3))));
    channel.broadcast(new TextEncoder().encode(JSON.stringify(entries.slice(3, 4))));
    await until(() => reader.board.size === 3);
    expect(reader.board.size).toBe(3);
    expect(reader.board.stats.rateLimited).toBe(1);
    await clock.advance(5000, flush); // the bucket refills (and the first three go stale meanwhile: no matter)
    channel.broadcast(new TextEncoder().encode(JSON.stringify(entries.slice(3, 6))));
    await until(() => reader.board.stats.accepted === 6);
    expect(reader.board.size).toBeLessThanOrEqual(4);
    channel.broadcast(new TextEncoder().encode(JSON.stringify(Array.from({ length: 5 }, () => entries[0]))));
    await until(() => reader.board.stats.badMessages === 1); // more entries than the board holds
  });
});
