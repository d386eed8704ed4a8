// One peer of the network, whatever it runs in: signaling, the mesh, the shared
// state (held per author) with its presence, and the directory of profiles. The page, the Node
// contributor and the in-memory tests all build one of these with their own
// signaling and transport.
import type { Identity } from "../crypto/identity.ts";
import { verifierStats } from "../crypto/signed.ts";
import { Mesh, type MeshOptions } from "../net/mesh.ts";
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { SignalingLike } from "../net/signaling-types.ts";
import type { LinkFactory } from "../net/transport.ts";
import { AuthorStore, type StoreLimits } from "../state/author-store.ts";
import { CreditBook } from "../state/credit-book.ts";
import { Directory, type Profile } from "../state/directory.ts";
import type { Presence } from "../state/presence.ts";
import { PresenceBoard } from "../state/presence-board.ts";
import { StoreSync, type StoreSyncOptions } from "../state/store-sync.ts";
import type { Clock } from "../util/clock.ts";
import { ChangeFeed } from "./change-feed.ts";
import { type PresenceFields, PresencePublisher } from "./presence-publisher.ts";

export type { PresenceFields } from "./presence-publisher.ts";

export interface PeerNodeOptions {
  identity: Identity;
  signaling: SignalingLike & { start(): void; stop(): void };
  linkFactory: LinkFactory;
  clock: Clock;
  /** Quotas of the shared state, per author. */
  storeLimits?: Partial<StoreLimits>;
  /**
   * The stamp difficulty this peer accepts for a starting allowance (default
   * STAMP_BITS). Only tests lower it; a peer that does is generous only itself.
   */
  stampBits?: number;
  /** Rate limits of its sync, per link. */
  sync?: StoreSyncOptions;
  mesh?: Partial<Omit<MeshOptions, "clock" | "identity">>;
  /** What this peer says about itself; read whenever presence is signed. */
  presence: () => PresenceFields;
  /** Presence is signed again this often even when nothing changed. */
  presenceIntervalMs?: number;
  /** Presence not renewed for this long is dropped (default: 3 intervals, at least 10 s). */
  presenceStaleMs?: number;
  now?: () => number;
}

export type Connection = "self" | "direct" | "connecting" | "relayed" | "offline";

export interface PeerView {
  peer: PeerAddress;
  peerId: string;
  name: string;
  connection: Connection;
  presence: Presence | null;
  /** Round-trip time over a direct link. */
  rttMs: number | null;
  /** When this peer's presence was last heard of (ms since the epoch), if ever. */
  seenAtMs: number | null;
}

interface NodeEvents {
  /** The set of peers or their state changed (debounced). */
  change: () => void;
}

/** How long changes are gathered into one "change" event. */
const CHANGE_DEBOUNCE_MS = 50;

export class PeerNode {
  /** The shared state, per author (persist it with StorePersistence). */
  readonly store: AuthorStore;
  /** Every live peer's signed presence (its own mesh channel; see presence-board.ts). */
  readonly presenceBoard: PresenceBoard;
  readonly mesh: Mesh;
  readonly sync: StoreSync;
  readonly directory: Directory;
  /** Receipts and stamps: who has earned and spent what (see core/ledger). */
  readonly credits: CreditBook;
  private readonly changes: ChangeFeed;
  private readonly presence: PresencePublisher;
  private readonly off: (() => void)[] = [];
  private running = false;

  constructor(private readonly options: PeerNodeOptions) {
    this.store = new AuthorStore(options.identity, options.storeLimits, () => (options.now ?? Date.now)());
    this.mesh = new Mesh(options.signaling, options.linkFactory, {
      clock: options.clock,
      identity: options.identity,
      ...options.mesh,
    });
    this.sync = new StoreSync(this.store, this.mesh, options.clock, options.sync);
    const presenceIntervalMs = options.presenceIntervalMs ?? 60_000;
    this.presenceBoard = new PresenceBoard({
      mesh: this.mesh,
      clock: options.clock,
      now: () => (options.now ?? Date.now)(),
      // A floor, so a busy event loop that renews late does not drop live peers.
      staleMs: options.presenceStaleMs ?? Math.max(3 * presenceIntervalMs, 10_000),
    });
    this.directory = new Directory(this.store, options.identity, options.now);
    this.credits = new CreditBook(this.store, options.identity, { stampBits: options.stampBits });
    this.changes = new ChangeFeed(options.clock, CHANGE_DEBOUNCE_MS);
    this.presence = new PresencePublisher(this.presenceBoard, {
      identity: options.identity,
      clock: options.clock,
      self: () => this.self,
      presence: options.presence,
      intervalMs: presenceIntervalMs,
      now: () => (options.now ?? Date.now)(),
    });
  }

  get self(): PeerAddress {
    return this.options.signaling.self;
  }

  get identity(): Identity {
    return this.options.identity;
  }

  on<K extends keyof NodeEvents>(event: K, handler: NodeEvents[K]): () => void {
    return this.changes.on(event, handler);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.sync.start();
    this.presenceBoard.start();
    this.mesh.start();
    this.options.signaling.start();
    const changed = () => this.changes.changed();
    this.off.push(
      this.presenceBoard.on("change", changed),
      this.directory.observe(changed),
      this.mesh.on("change", changed),
      this.options.signaling.on("peer-joined", changed),
      this.options.signaling.on("peer-left", changed),
      this.options.signaling.on("joined", changed),
    );
    void this.presence.start();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const off of this.off.splice(0)) off();
    this.presence.stop();
    this.presenceBoard.stop(); // floods our signed "gone" while the links are still up
    this.changes.cancel();
    this.sync.stop();
    this.mesh.stop();
    this.options.signaling.stop();
    this.changes.clear();
  }

  /** Signs this peer's presence now (call when what it says has changed). */
  publishPresence(): Promise<void> {
    return this.presence.publish();
  }

  setName(name: string): Promise<void> {
    return this.directory.setName(name).then(() => this.publishPresence());
  }

  /**
   * What this peer was sent and did not apply, as plain numbers (a copy): for the
   * Network page. Counters only grow, except `profiles.invalid` (the last read) and
   * `signatures` (every check in this process, whichever part of it asked).
   */
  inputStats() {
    const { store, sync, presenceBoard: p } = this;
    return {
      entries: {
        applied: store.stats.applied,
        /** Unsigned, forged or not a state entry. */
        invalid: store.stats.invalid,
        overQuota: store.stats.overQuota,
        /** No newer than what is held: replays, and echoes of the flood. */
        stale: store.stats.stale,
      },
      /** Sync messages dropped whole: malformed, too large or over the link's rate. */
      sync: { dropped: sync.stats.dropped },
      presence: {
        accepted: p.stats.accepted,
        invalid: p.stats.invalid,
        badMessages: p.stats.badMessages,
        rateLimited: p.stats.rateLimited,
        old: p.stats.old,
      },
      /** Held profile entries that are not their own peer's valid profile. */
      profiles: { invalid: this.directory.stats.invalid },
      /** Mesh frames for no channel this peer has, or of another version. */
      frames: { dropped: this.mesh.droppedFrames() },
      signatures: {
        verified: verifierStats.verified,
        cacheHits: verifierStats.cacheHits,
        malformed: verifierStats.malformed,
        badSignature: verifierStats.badSignature,
      },
    };
  }

  /** Every peer this one knows of: live members, presence heard through the mesh, and profiles. */
  async peers(): Promise<PeerView[]> {
    const profiles = await this.directory.profiles();
    const presences = new Map<PeerAddress, Presence>();
    const seen = new Map<PeerAddress, number>();
    for (const [peer, heard] of this.presenceBoard.presences()) {
      presences.set(peer, heard.presence);
      seen.set(peer, Math.max(heard.presence.at, heard.seenAtMs));
    }
    const links = new Map(this.mesh.links().map((l) => [l.remote, l]));
    const addresses = new Set<PeerAddress>([
      this.self,
      ...this.options.signaling.members().map((m) => m.peer),
      ...presences.keys(),
    ]);
    const views: PeerView[] = [...addresses].map((peer) => {
      const link = links.get(peer);
      const presence = presences.get(peer) ?? null;
      const connection: Connection =
        peer === this.self
          ? "self"
          : link?.state === "open"
            ? "direct"
            : link
              ? "connecting"
              : presence
                ? "relayed"
                : "offline";
      const profile: Profile | undefined = profiles.get(peerIdOf(peer))?.payload;
      return {
        peer,
        peerId: peerIdOf(peer),
        name: profile?.name || presence?.name || "",
        connection,
        presence,
        rttMs: link?.rttMs ?? null,
        seenAtMs: seen.get(peer) ?? null,
      };
    });
    return views.sort((a, b) =>
      a.connection === "self" ? -1 : b.connection === "self" ? 1 : a.peer < b.peer ? -1 : 1,
    );
  }
}
