// The shared state, held per author. Every entry sits in its author's own slot
// (space, key) and is signed by that author; a peer applies only entries whose
// signature holds, and for a slot keeps the one with the highest sequence
// number. So nobody can change or remove another's entries (removal is a signed
// tombstone by the author), a replayed old entry loses to the newer one, and the
// state grows with live slots, not with history. Per-author quotas bound what
// anyone can make others hold; what is refused is counted, never applied.
import type { Identity } from "../crypto/identity.ts";
import { peerIdOfKey, peerIdOfKeyNow, type SignedEntry, signEntry, verifyEntry } from "../crypto/signed.ts";
import { Emitter } from "../util/emitter.ts";
import { isObject } from "../util/guards.ts";
import { parseStatePayload, type Space, STATE_KIND, type StatePayload, slotOf } from "./state-entry.ts";

export interface StoreLimits {
  /** Live slots one author may hold here. */
  maxEntriesPerAuthor: number;
  /** Bytes (canonical JSON) of one author's live slots. */
  maxBytesPerAuthor: number;
  /** Authors held at all (Sybil identities are cheap). */
  maxAuthors: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = {
  maxEntriesPerAuthor: 512,
  maxBytesPerAuthor: 1024 * 1024,
  maxAuthors: 4096,
};

export interface ApplyOptions {
  /** The caller made `raw` and gives it up (e.g. just parsed from a message): it is held without a copy. */
  handedOver?: boolean;
}

export type ApplyResult = "applied" | "stale" | "invalid" | "over-quota";

export interface StoreStats {
  applied: number;
  stale: number;
  invalid: number;
  overQuota: number;
}

export type StateEntry = SignedEntry<StatePayload>;

/** One live slot as a reader sees it. */
export interface Slot {
  author: string;
  space: Space;
  key: string;
  seq: number;
  /** null: the author removed it. */
  value: unknown;
  entry: StateEntry;
}

interface Held extends Slot {
  bytes: number;
  hash: number;
}

/** What a peer holds of one author: enough to tell whether two peers agree. */
export interface AuthorDigest {
  seq: number;
  count: number;
  /** XOR of the held entries' hashes: equal sets give equal hashes. */
  hash: number;
}

interface Feed {
  seq: number;
  bytes: number;
  hash: number;
  slots: Map<string, Held>;
}

interface StoreEvents {
  /** A slot changed (applied from a peer or put here). */
  change: (slot: Slot, origin: unknown) => void;
}

/** A 32-bit FNV-1a hash of a signature: unique enough to tell sets of entries apart. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

const ENTRY_OVERHEAD_CHARS =
  JSON.stringify({ kind: "", payload: 0, publicKey: "", signature: "" }).length - 1;

/** The length of a held entry's JSON: its payload's (the same members as the canonical form) and the rest. */
const entryChars = (h: Held) =>
  ENTRY_OVERHEAD_CHARS +
  JSON.stringify(h.entry.kind).length -
  2 +
  h.bytes +
  h.entry.publicKey.length +
  h.entry.signature.length;

/** Whether `a` wins over `b` for one slot: the higher seq, then (a tie) the greater signature. */
const wins = (a: { seq: number; entry: StateEntry }, b: { seq: number; entry: StateEntry }) =>
  a.seq > b.seq || (a.seq === b.seq && a.entry.signature > b.entry.signature);

export class AuthorStore {
  private readonly feeds = new Map<string, Feed>();
  private readonly events = new Emitter<StoreEvents>();
  readonly stats: StoreStats = { applied: 0, stale: 0, invalid: 0, overQuota: 0 };
  private readonly limits: StoreLimits;

  /**
   * `seqFloor` gives a lower bound for this peer's next seq (the wall clock, in
   * the app): a tab that starts before its old entries are read back, or on a
   * device whose copy is behind, still writes entries that win their slots.
   */
  constructor(
    private readonly identity: Identity,
    limits: Partial<StoreLimits> = {},
    private readonly seqFloor: () => number = () => 0,
  ) {
    this.limits = { ...DEFAULT_STORE_LIMITS, ...limits };
  }

  on<K extends keyof StoreEvents>(event: K, handler: StoreEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  /** Checks an entry from anywhere and holds it if it is genuine, newer and within its author's quota. */
  async apply(raw: unknown, origin?: unknown, options: ApplyOptions = {}): Promise<ApplyResult> {
    const pre = this.precheck(raw);
    const early = pre instanceof Promise ? await pre : pre;
    if (early) return early;
    const checked = await verifyEntry(raw, STATE_KIND, parseStatePayload);
    if (!checked) {
      this.stats.invalid++;
      return "invalid";
    }
    const json = checked.canonical;
    const entry = raw as StateEntry;
    // What is held is a copy (of what was signed), so whoever handed the entry in cannot change it
    // afterwards, unless the caller hands it over for good.
    const p = options.handedOver ? checked.payload : (JSON.parse(json) as StatePayload);
    const candidate: Held = {
      author: checked.signer,
      space: p.space,
      key: p.key,
      seq: p.seq,
      value: p.value,
      entry: { kind: entry.kind, payload: p, publicKey: entry.publicKey, signature: entry.signature },
      bytes: json.length,
      hash: hash32(entry.signature),
    };
    return this.hold(candidate, origin);
  }

  /**
   * What can be told before any signature work: a new author when the store holds
   * all it may (refused), or a copy of the very entry a slot holds (stale). Floods
   * bring most entries many times over, so this keeps the cost of a copy to a lookup.
   */
  private precheck(raw: unknown): ApplyResult | null | Promise<ApplyResult | null> {
    if (!isObject(raw) || typeof raw.publicKey !== "string" || !isObject(raw.payload)) return null;
    const payload = raw.payload;
    const author = peerIdOfKeyNow(raw.publicKey);
    if (author !== undefined) return this.precheckBy(author, payload, raw.signature);
    return peerIdOfKey(raw.publicKey).then(
      (a) => this.precheckBy(a, payload, raw.signature),
      () => null,
    );
  }

  private precheckBy(
    author: string,
    payload: Record<string, unknown>,
    signature: unknown,
  ): ApplyResult | null {
    const feed = this.feeds.get(author);
    if (!feed) {
      if (this.feeds.size < this.limits.maxAuthors) return null;
      this.stats.overQuota++;
      return "over-quota";
    }
    const { space, key, seq } = payload;
    if (typeof space !== "string" || typeof key !== "string" || typeof seq !== "number") return null;
    const held = feed.slots.get(`${space}/${key}`);
    // Only the very entry held is told apart this way; anything else (an old one
    // replayed, a forgery) is checked in full, so forgeries are counted as such.
    if (held?.seq !== seq || held.entry.signature !== signature) return null;
    this.stats.stale++;
    return "stale";
  }

  /** Puts this peer's own value under (space, key); null removes it. Returns the signed entry. */
  async put(space: Space, key: string, value: unknown): Promise<StateEntry> {
    let result: ApplyResult = "stale";
    // An entry of this author's that arrived while this one was being signed may outrank it: sign again.
    for (let attempt = 0; attempt < 3 && result === "stale"; attempt++) {
      const seq = Math.max((this.feeds.get(this.identity.peerId)?.seq ?? 0) + 1, Math.floor(this.seqFloor()));
      const entry = await signEntry<StatePayload>(this.identity, STATE_KIND, { space, key, seq, value });
      result = await this.apply(entry, this);
      if (result === "applied") return entry;
    }
    throw new Error(`the store refused this peer's own entry (${result})`);
  }

  private hold(candidate: Held, origin: unknown): ApplyResult {
    let feed = this.feeds.get(candidate.author);
    if (!feed) {
      if (this.feeds.size >= this.limits.maxAuthors) {
        this.stats.overQuota++;
        return "over-quota";
      }
      feed = { seq: 0, bytes: 0, hash: 0, slots: new Map() };
    }
    const slot = slotOf(candidate.space, candidate.key);
    const existing = feed.slots.get(slot);
    if (existing && !wins(candidate, existing)) {
      this.stats.stale++;
      return "stale";
    }
    const bytes = feed.bytes - (existing?.bytes ?? 0) + candidate.bytes;
    const count = feed.slots.size + (existing ? 0 : 1);
    if (bytes > this.limits.maxBytesPerAuthor || count > this.limits.maxEntriesPerAuthor) {
      this.stats.overQuota++;
      return "over-quota";
    }
    this.feeds.set(candidate.author, feed);
    feed.slots.set(slot, candidate);
    feed.bytes = bytes;
    feed.hash = (feed.hash ^ (existing?.hash ?? 0) ^ candidate.hash) >>> 0;
    feed.seq = Math.max(feed.seq, candidate.seq);
    this.stats.applied++;
    this.events.emit("change", this.view(candidate), origin);
    return "applied";
  }

  private view(h: Held): Slot {
    return { author: h.author, space: h.space, key: h.key, seq: h.seq, value: h.value, entry: h.entry };
  }

  /** The author's value under (space, key): undefined if none, null if removed. */
  get(author: string, space: Space, key: string): unknown {
    return this.feeds.get(author)?.slots.get(slotOf(space, key))?.value;
  }

  /** Every live slot of `space` (removed ones left out), across authors. */
  list(space: Space): Slot[] {
    const out: Slot[] = [];
    for (const feed of this.feeds.values())
      for (const h of feed.slots.values()) if (h.space === space && h.value !== null) out.push(this.view(h));
    return out;
  }

  /** Every slot of `space` whose key is `key`, across authors (only the right author's counts). */
  byKey(space: Space, key: string): Slot[] {
    const slot = slotOf(space, key);
    const out: Slot[] = [];
    for (const feed of this.feeds.values()) {
      const h = feed.slots.get(slot);
      if (h && h.value !== null) out.push(this.view(h));
    }
    return out;
  }

  digest(): Map<string, AuthorDigest> {
    const out = new Map<string, AuthorDigest>();
    for (const [author, f] of this.feeds) out.set(author, { seq: f.seq, count: f.slots.size, hash: f.hash });
    return out;
  }

  /** The author's entries with a seq above `aboveSeq`, oldest first. */
  entriesOf(author: string, aboveSeq = 0): StateEntry[] {
    return this.sizedEntriesOf(author, aboveSeq).map((s) => s.entry);
  }

  /** entriesOf, each with the length of its JSON (known without encoding it again). */
  sizedEntriesOf(author: string, aboveSeq = 0): { entry: StateEntry; chars: number }[] {
    const feed = this.feeds.get(author);
    if (!feed) return [];
    return [...feed.slots.values()]
      .filter((h) => h.seq > aboveSeq)
      .sort((a, b) => a.seq - b.seq)
      .map((h) => ({ entry: h.entry, chars: entryChars(h) }));
  }

  authors(): string[] {
    return [...this.feeds.keys()];
  }

  /** Bytes and slots held for one author (what its quota counts). */
  usage(author: string): { bytes: number; entries: number } {
    const feed = this.feeds.get(author);
    return { bytes: feed?.bytes ?? 0, entries: feed?.slots.size ?? 0 };
  }
}
