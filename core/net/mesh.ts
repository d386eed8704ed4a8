// The peer mesh: a bounded partial mesh of direct links between the members of
// a room. Which links to open is the dialer's (dialer.ts: ring neighbours, a
// target and a maximum degree, backoff per peer); keeping them alive is the
// keepalive's (keepalive.ts); the links themselves are in link-table.ts. The
// mesh sets links up: it carries their connection data over signaling, times
// out attempts that hang, and settles glare (two peers opening links to each
// other at once) by address: the lower address's attempt wins. A link counts as
// open only once both ends proved, over it, that they hold the keys of their
// addresses (link-auth.ts); until then it is "connecting" and carries nothing
// else, so a relay that splices itself in or a peer under a stolen address
// never gets a link anyone uses.
import type { Identity } from "../crypto/identity.ts";
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { isShortText } from "../util/guards.ts";
import { ChannelRouter, type MeshPort, type PeerChannel, type Protocol } from "./channels.ts";
import { Dialer } from "./dialer.ts";
import { Keepalive, MESH_PROTOCOL } from "./keepalive.ts";
import { LinkAuthenticator } from "./link-auth.ts";
import { type LinkEntry, type LinkInfo, LinkTable } from "./link-table.ts";
import type { PeerAddress } from "./peer-address.ts";
import {
  ClaimWatch,
  MAX_SIDE_CHANNEL_LABEL,
  type SideChannel,
  type SideChannelPort,
} from "./side-channel.ts";
import type { SignalingLike } from "./signaling-types.ts";
import type { Link, LinkFactory } from "./transport.ts";

export type { LinkInfo, LinkState } from "./link-table.ts";

export interface MeshOptions {
  clock: Clock;
  /** The key this peer's address is derived from: each link is signed with it. */
  identity: Identity;
  /** Links this peer opens on its own (ring neighbours included). */
  targetDegree?: number;
  /** Most links it keeps, counting links others opened. */
  maxDegree?: number;
  /** A link not open (set up and authenticated) this long after it was started is dropped. */
  connectTimeoutMs?: number;
  maintainIntervalMs?: number;
  keepaliveIntervalMs?: number;
  /** A link with nothing heard for this long is closed. */
  silentTimeoutMs?: number;
  random?: () => number;
}

export interface MeshEvents {
  open: (remote: PeerAddress) => void;
  close: (remote: PeerAddress) => void;
  /** Something about the links changed (for the UI). */
  change: () => void;
}

type Envelope =
  | { mesh: 1; kind: "rtc"; attempt: string; data: object }
  | { mesh: 1; kind: "refuse"; attempt: string; reason: string };

function parseEnvelope(data: object): Envelope | null {
  const e = data as Record<string, unknown>;
  if (e.mesh !== 1 || !isShortText(e.attempt, 128)) return null;
  if (e.kind === "rtc" && typeof e.data === "object" && e.data !== null) {
    return { mesh: 1, kind: "rtc", attempt: e.attempt, data: e.data };
  }
  if (e.kind === "refuse" && typeof e.reason === "string") {
    return { mesh: 1, kind: "refuse", attempt: e.attempt, reason: e.reason.slice(0, 64) };
  }
  return null;
}

export class Mesh implements MeshPort {
  private readonly events = new Emitter<MeshEvents>();
  private readonly table = new LinkTable();
  private readonly unsubscribe: (() => void)[] = [];
  private running = false;
  private readonly router = new ChannelRouter(
    (remote, frame) => this.table.sendFrame(remote, frame),
    (frame, except) => this.table.broadcastFrame(frame, except),
  );
  private readonly dialer: Dialer;
  private readonly keepalive: Keepalive;
  private readonly sideHandlers = new Set<(remote: PeerAddress, channel: SideChannel) => void>();
  /** Side channels of authenticated links (see side-channel.ts). */
  readonly sideChannels: SideChannelPort = {
    open: (remote, label) => {
      const entry = this.table.get(remote);
      if (entry?.state !== "open" || !entry.auth?.remoteTakesSideChannels) return null;
      if (label.length > MAX_SIDE_CHANNEL_LABEL) return null;
      return entry.link.openChannel?.(label) ?? null;
    },
    onChannel: (handler) => {
      this.sideHandlers.add(handler);
      return () => this.sideHandlers.delete(handler);
    },
  };

  constructor(
    private readonly signaling: SignalingLike,
    private readonly factory: LinkFactory,
    private readonly options: MeshOptions,
  ) {
    const targetDegree = options.targetDegree ?? 4;
    const random = options.random ?? Math.random;
    this.dialer = new Dialer(
      {
        get self() {
          return signaling.self;
        },
        links: this.table,
        members: () => this.members(),
        dial: (remote, attempt) => this.open(remote, attempt, true),
        makeWay: (entry) => this.drop(entry, "making room", false),
      },
      {
        clock: options.clock,
        targetDegree,
        maxDegree: Math.max(targetDegree, options.maxDegree ?? 8),
        maintainIntervalMs: options.maintainIntervalMs ?? 3000,
        random,
      },
    );
    this.keepalive = new Keepalive(
      this.router.channel(MESH_PROTOCOL),
      {
        links: this.table,
        isPinned: (remote) => this.dialer.isPinned(remote),
        silent: (entry) => this.drop(entry, "silent", true),
      },
      {
        clock: options.clock,
        intervalMs: options.keepaliveIntervalMs ?? 5000,
        silentTimeoutMs: options.silentTimeoutMs ?? 15_000,
      },
    );
  }

  get self(): PeerAddress {
    return this.signaling.self;
  }

  on<K extends keyof MeshEvents>(event: K, handler: MeshEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe.push(
      this.signaling.on("joined", () => this.dialer.soon()),
      this.signaling.on("peer-joined", () => this.dialer.soon()),
      this.signaling.on("peer-left", () => this.dialer.soon()),
      this.signaling.on("signal", (from, data) => this.onSignal(from, data)),
    );
    this.keepalive.start();
    this.dialer.start();
  }

  stop(): void {
    this.running = false;
    for (const off of this.unsubscribe.splice(0)) off();
    this.dialer.stop();
    this.keepalive.stop();
    for (const entry of this.table.all()) this.drop(entry, "mesh stopped", false);
    this.events.clear();
    this.router.clear();
    this.sideHandlers.clear();
  }

  links(): LinkInfo[] {
    return this.table.infos();
  }

  openLinks(): PeerAddress[] {
    return this.table.openRemotes();
  }

  rttMs(remote: PeerAddress): number | null {
    return this.table.rttMs(remote);
  }

  isOpen(remote: PeerAddress): boolean {
    return this.table.isOpen(remote);
  }

  /** A channel of its own for one protocol (see channels.ts). */
  channel(protocol: Protocol): PeerChannel {
    return this.router.channel(protocol);
  }

  /** Frames that arrived and were dropped (no such channel, or another version). */
  droppedFrames(): number {
    return this.router.dropped;
  }

  bufferedBytes(remote: PeerAddress): number {
    return this.table.bufferedBytes(remote);
  }

  /** Keeps a direct link to `remote` (beyond the degree), e.g. to a VM's host. */
  pin(remote: PeerAddress): void {
    this.dialer.pin(remote);
  }

  unpin(remote: PeerAddress): void {
    this.dialer.unpin(remote);
  }

  private members(): PeerAddress[] {
    return this.signaling
      .members()
      .map((m) => m.peer)
      .filter((p) => p !== this.self);
  }

  private open(remote: PeerAddress, attempt: string, initiator: boolean): LinkEntry {
    const { clock } = this.options;
    const entry: LinkEntry = {
      remote,
      attempt,
      initiator,
      link: null as unknown as Link,
      state: "connecting",
      lastHeardMs: clock.nowMs(),
      pingSentMs: null,
      lastPingMs: 0,
      rttMs: null,
      cancelTimeout: null,
      auth: null,
    };
    this.table.add(entry);
    const current = () => this.table.isCurrent(entry);
    entry.link = this.factory.create({
      remote,
      initiator,
      iceServers: this.signaling.iceServers(),
      events: {
        signal: (data) => {
          if (current()) this.signaling.sendSignal(remote, { mesh: 1, kind: "rtc", attempt, data });
        },
        open: () => {
          if (current()) entry.auth?.start();
        },
        message: (data) => {
          if (!current()) return;
          entry.lastHeardMs = clock.nowMs();
          if (entry.state === "open") this.router.deliver(remote, data);
          else entry.auth?.receive(data);
        },
        close: (reason) => {
          if (current()) this.drop(entry, reason, entry.state === "connecting");
        },
        channel: (channel) => this.acceptSideChannel(entry, channel),
      },
    });
    entry.auth = new LinkAuthenticator(this.options.identity, this.self, initiator, entry.link, {
      proven: () => {
        if (!current()) return;
        entry.state = "open";
        entry.lastHeardMs = clock.nowMs();
        entry.cancelTimeout?.();
        entry.cancelTimeout = null;
        this.dialer.succeeded(remote);
        this.events.emit("open", remote);
        this.events.emit("change");
      },
      failed: (reason) => {
        if (!current()) return;
        this.drop(entry, reason, true);
        this.dialer.distrust(remote);
      },
      deliver: (data) => {
        if (current()) this.router.deliver(remote, data);
      },
    });
    entry.cancelTimeout = clock.after(this.options.connectTimeoutMs ?? 20_000, () => {
      entry.cancelTimeout = null;
      if (current() && entry.state === "connecting") this.drop(entry, "timed out", true);
    });
    this.events.emit("change");
    return entry;
  }

  /** A side channel the remote opened: only on a proven link, and only if a consumer wants it. */
  private acceptSideChannel(entry: LinkEntry, channel: SideChannel): void {
    const watch = new ClaimWatch(channel);
    if (
      this.table.isCurrent(entry) &&
      entry.state === "open" &&
      channel.label.length <= MAX_SIDE_CHANNEL_LABEL
    )
      for (const handler of [...this.sideHandlers]) {
        handler(entry.remote, watch);
        if (watch.claimed) return;
      }
    channel.close();
  }

  /** Removes a link; a failed attempt makes the peer wait before the next one. */
  private drop(entry: LinkEntry, _reason: string, failed: boolean): void {
    if (!this.table.remove(entry)) return;
    entry.cancelTimeout?.();
    entry.cancelTimeout = null;
    entry.auth?.cancel();
    entry.link.close();
    if (failed) this.dialer.penalize(entry.remote);
    if (entry.state === "open") this.events.emit("close", entry.remote);
    this.events.emit("change");
    this.dialer.soon();
  }

  private onSignal(from: PeerAddress, raw: object): void {
    if (!this.running) return;
    const envelope = parseEnvelope(raw);
    if (!envelope) return;
    const entry = this.table.get(from);
    if (envelope.kind === "refuse") {
      if (entry?.initiator && entry.attempt === envelope.attempt) {
        this.drop(entry, `refused: ${envelope.reason}`, false);
        this.dialer.penalize(from, 10_000);
      }
      return;
    }
    if (entry?.attempt === envelope.attempt) {
      entry.link.signal(envelope.data);
      return;
    }
    // A new attempt from `from`, which is the initiator of it.
    // One that failed to prove who it is waits its turn.
    if (this.dialer.distrusts(from)) {
      this.signaling.sendSignal(from, {
        mesh: 1,
        kind: "refuse",
        attempt: envelope.attempt,
        reason: "backoff",
      });
      return;
    }
    if (entry) {
      // A working link stays: the attempt is stale (e.g. the loser's side of a glare
      // arriving late). Had the remote really lost the link, ours would close too.
      if (entry.state === "open") {
        this.signaling.sendSignal(from, {
          mesh: 1,
          kind: "refuse",
          attempt: envelope.attempt,
          reason: "duplicate",
        });
        return;
      }
      if (entry.initiator && this.self < from) return; // glare: the lower address's attempt wins
      this.drop(entry, "replaced by a newer attempt", false);
    }
    if (!this.dialer.admit(from)) {
      this.signaling.sendSignal(from, { mesh: 1, kind: "refuse", attempt: envelope.attempt, reason: "full" });
      return;
    }
    this.open(from, envelope.attempt, false).link.signal(envelope.data);
  }
}
