// Keeps the per-author state in step across the mesh. Peers compare digests
// (per author: the highest seq, how many slots, a hash of the set) when a link
// opens and now and then; each side sends the entries of authors where the
// other is behind or differs. New entries are flooded to the other links;
// applying is idempotent, so floods stop where nothing is new. What one link
// can make this peer send (replies) or take (entries) is rate-limited per link,
// so a tiny request cannot buy a large reply, and a flood costs only itself.
import { CHANNEL_IDS, type MeshPort, type PeerChannel, type Protocol } from "../net/channels.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { Clock } from "../util/clock.ts";
import { isObject } from "../util/guards.ts";
import { parseJsonBytes } from "../util/json.ts";
import { TokenBucket } from "../util/token-bucket.ts";
import type { AuthorDigest, AuthorStore, StateEntry } from "./author-store.ts";

export const STATE_PROTOCOL: Protocol = { name: "state", id: CHANNEL_IDS.state, version: 1 };

export interface StoreSyncOptions {
  resyncIntervalMs?: number;
  /** Reply bytes one link may draw from this peer, per second and saved up. */
  replyBytesPerS?: number;
  replyBurstBytes?: number;
  /** Entry bytes this peer takes from one link, per second and saved up. */
  receiveBytesPerS?: number;
  receiveBurstBytes?: number;
}

export interface SyncStats {
  /** Messages dropped: malformed, oversized, or over the link's rate. */
  dropped: number;
  /** Reply bytes sent in answer to digests. */
  replyBytes: number;
  /** Digest bytes received. */
  digestBytes: number;
}

type SyncMessage = { t: "digest"; d: [string, number, number, number][] } | { t: "entries"; e: unknown[] };

const MAX_MESSAGE_BYTES = 512 * 1024;
const MAX_ENTRIES_PER_MESSAGE = 64;
const TARGET_MESSAGE_BYTES = 128 * 1024;
const MAX_DIGEST_AUTHORS = 8192;

interface LinkState {
  /** Authors to send, each from the seq above which the other side still needs entries. */
  queue: Map<string, number>;
  replies: TokenBucket;
  receive: TokenBucket;
  cancelPump: (() => void) | null;
}

function parse(payload: Uint8Array): SyncMessage | null {
  if (payload.length > MAX_MESSAGE_BYTES) return null;
  const m = parseJsonBytes(payload);
  if (!isObject(m)) return null;
  if (m.t === "entries" && Array.isArray(m.e) && m.e.length <= MAX_ENTRIES_PER_MESSAGE)
    return { t: "entries", e: m.e };
  if (m.t === "digest" && Array.isArray(m.d) && m.d.length <= MAX_DIGEST_AUTHORS) {
    const d = m.d.filter(
      (x): x is [string, number, number, number] =>
        Array.isArray(x) &&
        x.length === 4 &&
        typeof x[0] === "string" &&
        x[0].length <= 64 &&
        x.slice(1).every((n) => Number.isSafeInteger(n) && (n as number) >= 0),
    );
    return { t: "digest", d };
  }
  return null;
}

const encode = (m: SyncMessage) => new TextEncoder().encode(JSON.stringify(m));

export class StoreSync {
  private readonly channel: PeerChannel;
  private readonly links = new Map<PeerAddress, LinkState>();
  /** New entries to pass on, by the link they came from ("" for this peer's own). */
  private readonly floods = new Map<string, StateEntry[]>();
  private readonly off: (() => void)[] = [];
  private cancelResync: (() => void) | null = null;
  readonly stats: SyncStats = { dropped: 0, replyBytes: 0, digestBytes: 0 };
  private readonly o: Required<StoreSyncOptions>;

  constructor(
    private readonly store: AuthorStore,
    private readonly mesh: MeshPort,
    private readonly clock: Clock,
    options: StoreSyncOptions = {},
  ) {
    this.o = {
      resyncIntervalMs: 10_000,
      replyBytesPerS: 1024 * 1024,
      replyBurstBytes: 4 * 1024 * 1024,
      receiveBytesPerS: 2 * 1024 * 1024,
      receiveBurstBytes: 8 * 1024 * 1024,
      ...options,
    };
    this.channel = mesh.channel(STATE_PROTOCOL);
  }

  start(): void {
    this.off.push(
      this.channel.on("message", (remote, payload) => this.receive(remote, payload)),
      this.mesh.on("open", (remote) => this.sendDigest(remote)),
      this.mesh.on("close", (remote) => this.forget(remote)),
      this.store.on("change", (slot, origin) => this.flood(slot.entry, origin)),
    );
    for (const remote of this.mesh.openLinks()) this.sendDigest(remote);
    this.scheduleResync();
  }

  stop(): void {
    for (const off of this.off.splice(0)) off();
    this.cancelResync?.();
    this.cancelResync = null;
    for (const remote of [...this.links.keys()]) this.forget(remote);
  }

  /**
   * Passes a new entry on to the other links, gathered per origin within one turn
   * of the event loop, so a burst of entries travels as a few messages.
   */
  private flood(entry: StateEntry, origin: unknown): void {
    const from = typeof origin === "string" ? origin : "";
    const batch = this.floods.get(from);
    if (batch) {
      batch.push(entry);
      if (batch.length < MAX_ENTRIES_PER_MESSAGE) return;
      this.floods.delete(from);
      this.channel.broadcast(encode({ t: "entries", e: batch }), from || undefined);
      return;
    }
    this.floods.set(from, [entry]);
    queueMicrotask(() => {
      const pending = this.floods.get(from);
      if (!pending) return;
      this.floods.delete(from);
      this.channel.broadcast(encode({ t: "entries", e: pending }), from || undefined);
    });
  }

  private scheduleResync(): void {
    this.cancelResync = this.clock.after(this.o.resyncIntervalMs, () => {
      for (const remote of this.mesh.openLinks()) this.sendDigest(remote);
      this.scheduleResync();
    });
  }

  private link(remote: PeerAddress): LinkState {
    let s = this.links.get(remote);
    if (!s) {
      const now = () => this.clock.nowMs();
      s = {
        queue: new Map(),
        replies: new TokenBucket(this.o.replyBytesPerS, this.o.replyBurstBytes, now),
        receive: new TokenBucket(this.o.receiveBytesPerS, this.o.receiveBurstBytes, now),
        cancelPump: null,
      };
      this.links.set(remote, s);
    }
    return s;
  }

  private forget(remote: PeerAddress): void {
    this.links.get(remote)?.cancelPump?.();
    this.links.delete(remote);
  }

  private sendDigest(remote: PeerAddress): void {
    const d: [string, number, number, number][] = [];
    for (const [author, x] of this.store.digest()) d.push([author, x.seq, x.count, x.hash]);
    this.channel.send(remote, encode({ t: "digest", d }));
  }

  private receive(remote: PeerAddress, payload: Uint8Array): void {
    const s = this.link(remote);
    const m = parse(payload);
    if (!m || !s.receive.take(payload.length)) {
      this.stats.dropped++;
      return;
    }
    if (m.t === "digest") {
      this.stats.digestBytes += payload.length;
      this.onDigest(remote, s, new Map(m.d.map(([a, seq, count, hash]) => [a, { seq, count, hash }])));
    } else {
      for (const e of m.e) void this.store.apply(e, remote, { handedOver: true });
    }
  }

  /** Queues every author where `theirs` is behind or differs, from where they are behind. */
  private onDigest(remote: PeerAddress, s: LinkState, theirs: Map<string, AuthorDigest>): void {
    for (const [author, mine] of this.store.digest()) {
      const t = theirs.get(author);
      if (t && t.hash === mine.hash && t.count === mine.count) continue;
      // Behind: what is above their newest. Level but different: everything (they may miss an old one).
      const above = t && t.seq < mine.seq ? t.seq : 0;
      if (t && t.seq > mine.seq && t.count >= mine.count) continue; // they are ahead; they will send
      s.queue.set(author, Math.min(s.queue.get(author) ?? above, above));
    }
    this.pump(remote, s);
  }

  /** Sends queued entries while the link's reply budget lasts, then waits for it to refill. */
  private pump(remote: PeerAddress, s: LinkState): void {
    s.cancelPump?.();
    s.cancelPump = null;
    for (const [author, above] of s.queue) {
      const entries = this.store.sizedEntriesOf(author, above);
      let batch: StateEntry[] = [];
      let batchBytes = 0;
      for (let i = 0; i <= entries.length; i++) {
        const e = entries[i];
        const size = e?.chars ?? 0;
        if (e && batch.length < MAX_ENTRIES_PER_MESSAGE && batchBytes + size <= TARGET_MESSAGE_BYTES) {
          batch.push(e.entry);
          batchBytes += size;
          continue;
        }
        if (batch.length > 0) {
          const frame = encode({ t: "entries", e: batch });
          if (!s.replies.take(frame.length)) {
            s.cancelPump = this.clock.after(s.replies.waitMs(frame.length), () => this.pump(remote, s));
            return;
          }
          this.channel.send(remote, frame);
          this.stats.replyBytes += frame.length;
          s.queue.set(author, batch.at(-1)!.payload.seq);
        }
        batch = e ? [e.entry] : [];
        batchBytes = size;
      }
      s.queue.delete(author);
    }
  }
}
