// The presence board: every live peer's signed presence, gossiped on a mesh
// channel of its own. It replaces y-protocols awareness for presence, whose
// per-client clock any peer could set for another (a clock at 2^53 froze the
// victim's presence for good). Here nothing but the signature counts:
//
// - an entry is kept under the address it names only when that address's peer
//   signed it, and only when it is newer (by its signed `at`) than what is held;
// - a peer that leaves floods a signed "gone" for its newest presence;
// - entries nobody renewed for `staleMs` (on the injected clock) are dropped;
// - the board holds at most `maxEntries` addresses, a message carries at most
//   that many entries and `maxMessageBytes`, and each link may make us check at
//   most `ratePerSecond` new entries (a token bucket, `burst` deep);
// - only what is new to us is passed on, which is what ends the flood.
//
// Whatever is refused is counted in `stats`.

import type { Identity } from "../crypto/identity.ts";
import { type SignedEntry, signEntry, verifyEntry } from "../crypto/signed.ts";
import { CHANNEL_IDS, type MeshPort, type PeerChannel, type Protocol } from "../net/channels.ts";
import { PEER_ADDRESS_PATTERN, type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { isObject } from "../util/guards.ts";
import { parseJsonBytes } from "../util/json.ts";
import { TokenBucket } from "../util/token-bucket.ts";
import { PRESENCE_KIND, type Presence, parsePresence } from "./presence.ts";

export const PRESENCE_PROTOCOL: Protocol = { name: "presence", id: CHANNEL_IDS.presence, version: 1 };

export const PRESENCE_GONE_KIND = "presence-gone/1";

/** A peer's word that its presence up to `at` is over. */
export interface PresenceGone {
  peer: PeerAddress;
  at: number;
}

export function parsePresenceGone(v: unknown): PresenceGone | null {
  if (!isObject(v) || typeof v.peer !== "string" || !PEER_ADDRESS_PATTERN.test(v.peer)) return null;
  if (!isTime(v.at)) return null;
  return { peer: v.peer, at: v.at };
}

export interface PresenceBoardOptions {
  mesh: MeshPort;
  clock: Clock;
  /** Wall time (ms since the epoch), for when an entry was last heard of. */
  now: () => number;
  /** An entry not renewed for this long is dropped. */
  staleMs: number;
  maxEntries?: number;
  maxMessageBytes?: number;
  /** New entries each link may make us check per second, and how many at once. */
  ratePerSecond?: number;
  burst?: number;
}

export interface PresenceBoardStats {
  /** Entries taken (newer than what was held). */
  accepted: number;
  /** Entries no newer than what is held (replays, echoes of the flood): dropped unchecked. */
  old: number;
  /** Entries that are malformed, or not signed by the peer they name. */
  invalid: number;
  /** Entries dropped because their link was over its rate. */
  rateLimited: number;
  /** Messages dropped whole: too large, not JSON, or too many entries. */
  badMessages: number;
  /** Entries pushed out by newer addresses when the board was full. */
  evicted: number;
  /** Entries dropped as stale. */
  expired: number;
}

export interface HeardPresence {
  presence: Presence;
  /** When this presence was taken (wall time, ms since the epoch). */
  seenAtMs: number;
}

interface Held {
  /** The newest signed time heard for the address, presence or gone. */
  at: number;
  /** Null once the peer said it is gone. */
  presence: Presence | null;
  entry: SignedEntry<Presence> | SignedEntry<PresenceGone>;
  /** Clock time it was taken (for staleness and eviction). */
  receivedAt: number;
  seenAtMs: number;
}

type Checked =
  | { kind: "presence"; peer: PeerAddress; at: number; presence: Presence }
  | { kind: "gone"; peer: PeerAddress; at: number };

export class PresenceBoard {
  readonly stats: PresenceBoardStats = {
    accepted: 0,
    old: 0,
    invalid: 0,
    rateLimited: 0,
    badMessages: 0,
    evicted: 0,
    expired: 0,
  };
  private readonly events = new Emitter<{ change: () => void }>();
  private readonly held = new Map<PeerAddress, Held>();
  private readonly buckets = new Map<PeerAddress, TokenBucket>();
  private readonly channel: PeerChannel;
  private readonly off: (() => void)[] = [];
  private cancelSweep: (() => void) | null = null;
  private own: { address: PeerAddress; gone: SignedEntry<PresenceGone> } | null = null;
  private readonly limits: {
    maxEntries: number;
    maxMessageBytes: number;
    ratePerSecond: number;
    burst: number;
  };

  constructor(private readonly options: PresenceBoardOptions) {
    const maxEntries = options.maxEntries ?? 1024;
    this.limits = {
      maxEntries,
      maxMessageBytes: options.maxMessageBytes ?? 1024 * 1024,
      ratePerSecond: options.ratePerSecond ?? 100,
      burst: options.burst ?? maxEntries + 64,
    };
    this.channel = options.mesh.channel(PRESENCE_PROTOCOL);
  }

  on(event: "change", handler: () => void): () => void {
    return this.events.on(event, handler);
  }

  start(): void {
    const { mesh } = this.options;
    this.off.push(
      this.channel.on("message", (remote, payload) => this.receive(remote, payload)),
      mesh.on("open", (remote) => this.greet(remote)),
      mesh.on("close", (remote) => this.buckets.delete(remote)),
    );
    this.scheduleSweep();
  }

  /** Tells the others this peer's presence is over (when it has one), then stops. */
  stop(): void {
    if (this.own) this.send(undefined, [this.own.gone]);
    this.own = null;
    for (const off of this.off.splice(0)) off();
    this.cancelSweep?.();
    this.cancelSweep = null;
    this.buckets.clear();
  }

  /**
   * Takes this peer's own newly signed presence and floods it. `identity` signs
   * the matching "gone" now, so leaving needs no signature later.
   */
  async publish(identity: Identity, entry: SignedEntry<Presence>): Promise<void> {
    const { peer, at } = entry.payload;
    const gone = await signEntry(identity, PRESENCE_GONE_KIND, { peer, at });
    const current = this.held.get(peer);
    if (current && current.at >= at) return; // a newer one of ours was published meanwhile
    this.own = { address: peer, gone };
    this.take(peer, { at, presence: entry.payload, entry });
    this.send(undefined, [entry]);
  }

  /** Every live peer's presence (ours included), by address. */
  presences(): Map<PeerAddress, HeardPresence> {
    const out = new Map<PeerAddress, HeardPresence>();
    for (const [peer, h] of this.held) {
      if (h.presence) out.set(peer, { presence: h.presence, seenAtMs: h.seenAtMs });
    }
    return out;
  }

  get size(): number {
    return this.held.size;
  }

  private scheduleSweep(): void {
    const period = Math.max(1, Math.floor(this.options.staleMs / 3));
    this.cancelSweep = this.options.clock.after(period, () => {
      this.sweep();
      this.scheduleSweep();
    });
  }

  /** Drops what nobody renewed for staleMs (our own entry stays: we renew it). */
  sweep(): void {
    const now = this.options.clock.nowMs();
    let changed = false;
    for (const [peer, h] of this.held) {
      if (peer === this.own?.address || now - h.receivedAt <= this.options.staleMs) continue;
      this.held.delete(peer);
      this.stats.expired++;
      changed = changed || h.presence !== null;
    }
    if (changed) this.events.emit("change");
  }

  /** A new link learns everything we hold. */
  private greet(remote: PeerAddress): void {
    const entries = [...this.held.values()].map((h) => h.entry);
    if (entries.length > 0) this.send(remote, entries);
  }

  /** Sends entries in messages within the size bound; to `remote`, or to every link. */
  private send(remote: PeerAddress | undefined, entries: unknown[], except?: PeerAddress): void {
    const encoder = new TextEncoder();
    let batch: string[] = [];
    let bytes = 2;
    const flush = () => {
      if (batch.length === 0) return;
      const payload = encoder.encode(`[${batch.join(",")}]`);
      if (remote) this.channel.send(remote, payload);
      else this.channel.broadcast(payload, except);
      batch = [];
      bytes = 2;
    };
    for (const e of entries) {
      const json = JSON.stringify(e);
      if (bytes + json.length + 1 > this.limits.maxMessageBytes || batch.length >= this.limits.maxEntries)
        flush();
      batch.push(json);
      bytes += json.length + 1;
    }
    flush();
  }

  private receive(remote: PeerAddress, payload: Uint8Array): void {
    const items = payload.length > this.limits.maxMessageBytes ? undefined : parseJsonBytes(payload);
    if (items === undefined) {
      this.stats.badMessages++;
      return;
    }
    if (!Array.isArray(items) || items.length > this.limits.maxEntries) {
      this.stats.badMessages++;
      return;
    }
    for (const item of items) this.consider(remote, item);
  }

  /** Cheap checks first (shape, newer than held, the link's rate); then the signature. */
  private consider(remote: PeerAddress, item: unknown): void {
    const claim = isObject(item) ? claimOf(item) : null;
    if (!claim) {
      this.stats.invalid++;
      return;
    }
    if (!this.isNewer(claim.peer, claim.at, claim.kind)) {
      this.stats.old++;
      return;
    }
    if (!this.takeToken(remote)) {
      this.stats.rateLimited++;
      return;
    }
    void this.check(item as Record<string, unknown>, claim.kind).then((checked) => {
      if (!checked) {
        this.stats.invalid++;
        return;
      }
      // Checked meanwhile against a newer one, or the board stopped: nothing to take.
      if (!this.isNewer(checked.peer, checked.at, checked.kind) || this.off.length === 0) {
        this.stats.old++;
        return;
      }
      const entry = item as unknown as Held["entry"];
      const clean = {
        kind: entry.kind,
        payload: entry.payload,
        publicKey: entry.publicKey,
        signature: entry.signature,
      };
      this.take(checked.peer, {
        at: checked.at,
        presence: checked.kind === "presence" ? checked.presence : null,
        entry: clean as Held["entry"],
      });
      this.send(undefined, [clean], remote);
    });
  }

  /** Whether a claim for `peer` at `at` would replace what is held: presence if later, gone if not earlier. */
  private isNewer(peer: PeerAddress, at: number, kind: Checked["kind"]): boolean {
    const h = this.held.get(peer);
    if (!h) return true;
    return kind === "gone" ? at >= h.at && h.presence !== null : at > h.at;
  }

  private async check(item: Record<string, unknown>, kind: Checked["kind"]): Promise<Checked | null> {
    if (kind === "presence") {
      const v = await verifyEntry(item, PRESENCE_KIND, parsePresence);
      if (!v || peerIdOf(v.payload.peer) !== v.signer) return null;
      return { kind, peer: v.payload.peer, at: v.payload.at, presence: v.payload };
    }
    const v = await verifyEntry(item, PRESENCE_GONE_KIND, parsePresenceGone);
    if (!v || peerIdOf(v.payload.peer) !== v.signer) return null;
    return { kind, peer: v.payload.peer, at: v.payload.at };
  }

  private take(peer: PeerAddress, entry: Pick<Held, "at" | "presence" | "entry">): void {
    if (!this.held.has(peer) && this.held.size >= this.limits.maxEntries) this.evictOne();
    this.held.set(peer, {
      ...entry,
      receivedAt: this.options.clock.nowMs(),
      seenAtMs: this.options.now(),
    });
    this.stats.accepted++;
    this.events.emit("change");
  }

  /** Makes room: the entry renewed longest ago goes (never our own). */
  private evictOne(): void {
    let oldest: [PeerAddress, Held] | null = null;
    for (const e of this.held) {
      if (e[0] !== this.own?.address && (!oldest || e[1].receivedAt < oldest[1].receivedAt)) oldest = e;
    }
    if (!oldest) return;
    this.held.delete(oldest[0]);
    this.stats.evicted++;
  }

  private takeToken(remote: PeerAddress): boolean {
    let bucket = this.buckets.get(remote);
    if (!bucket) {
      const { ratePerSecond, burst } = this.limits;
      bucket = new TokenBucket(ratePerSecond, burst, () => this.options.clock.nowMs());
      this.buckets.set(remote, bucket);
    }
    return bucket.take(1);
  }
}

/** The address and time an entry claims, before anything is checked. */
const isTime = (v: unknown): v is number =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

function claimOf(
  item: Record<string, unknown>,
): { kind: Checked["kind"]; peer: PeerAddress; at: number } | null {
  const p = item.payload;
  if (!isObject(p) || typeof p.peer !== "string" || !PEER_ADDRESS_PATTERN.test(p.peer) || !isTime(p.at))
    return null;
  if (item.kind === PRESENCE_KIND) return { kind: "presence", peer: p.peer, at: p.at };
  if (item.kind === PRESENCE_GONE_KIND) return { kind: "gone", peer: p.peer, at: p.at };
  return null;
}
