// The peer mesh: a bounded partial mesh of direct links between the members of
// a room. Each peer keeps links to its two neighbours on a ring of all members
// (sorted by address: this keeps the mesh connected) plus random others up to a
// target degree, accepts links up to a cap, and refills after failures with a
// per-peer backoff. Glare (two peers opening links to each other at once) is
// settled by address: the lower address's attempt wins. Links are kept alive
// with pings and dropped when silent.
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { isShortText } from "../util/guards.ts";
import { CHANNEL_IDS, ChannelRouter, type MeshPort, type PeerChannel, type Protocol } from "./channels.ts";
import type { PeerAddress } from "./peer-address.ts";
import type { SignalingLike } from "./signaling-types.ts";
import type { Link, LinkFactory } from "./transport.ts";

export interface MeshOptions {
  clock: Clock;
  /** Links this peer opens on its own (ring neighbours included). */
  targetDegree?: number;
  /** Most links it keeps, counting links others opened. */
  maxDegree?: number;
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

export type LinkState = "connecting" | "open";

export interface LinkInfo {
  remote: PeerAddress;
  state: LinkState;
  initiator: boolean;
  /** Round-trip time of the last keepalive ping, if any. */
  rttMs: number | null;
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

interface Entry {
  remote: PeerAddress;
  attempt: string;
  initiator: boolean;
  link: Link;
  state: LinkState;
  lastHeardMs: number;
  pingSentMs: number | null;
  lastPingMs: number;
  rttMs: number | null;
  cancelTimeout: (() => void) | null;
}

/** The mesh's own keepalive: one byte, ping or pong. */
const MESH_PROTOCOL: Protocol = { name: "mesh", id: CHANNEL_IDS.mesh, version: 1 };
const PING = Uint8Array.of(0);
const PONG = Uint8Array.of(1);

export class Mesh implements MeshPort {
  private readonly events = new Emitter<MeshEvents>();
  private readonly entries = new Map<PeerAddress, Entry>();
  private readonly backoff = new Map<PeerAddress, { untilMs: number; failures: number }>();
  private readonly pinned = new Set<PeerAddress>();
  private readonly unsubscribe: (() => void)[] = [];
  private cancelMaintain: (() => void) | null = null;
  private cancelKeepalive: (() => void) | null = null;
  private attemptSeq = 0;
  private running = false;
  private readonly targetDegree: number;
  private readonly maxDegree: number;
  private readonly random: () => number;
  private readonly router = new ChannelRouter(
    (remote, frame) => this.sendFrame(remote, frame),
    (frame, except) => this.broadcastFrame(frame, except),
  );
  private readonly keepalive = this.router.channel(MESH_PROTOCOL);

  constructor(
    private readonly signaling: SignalingLike,
    private readonly factory: LinkFactory,
    private readonly options: MeshOptions,
  ) {
    this.targetDegree = options.targetDegree ?? 4;
    this.maxDegree = Math.max(this.targetDegree, options.maxDegree ?? 8);
    this.random = options.random ?? Math.random;
    this.keepalive.on("message", (remote, payload) => this.onKeepalive(remote, payload));
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
      this.signaling.on("joined", () => this.maintainSoon()),
      this.signaling.on("peer-joined", () => this.maintainSoon()),
      this.signaling.on("peer-left", () => this.maintainSoon()),
      this.signaling.on("signal", (from, data) => this.onSignal(from, data)),
    );
    this.scheduleKeepalive();
    this.maintainSoon();
  }

  stop(): void {
    this.running = false;
    for (const off of this.unsubscribe.splice(0)) off();
    this.cancelMaintain?.();
    this.cancelKeepalive?.();
    this.cancelMaintain = this.cancelKeepalive = null;
    for (const entry of [...this.entries.values()]) this.drop(entry, "mesh stopped", false);
    this.events.clear();
    this.router.clear();
  }

  links(): LinkInfo[] {
    return [...this.entries.values()].map((e) => ({
      remote: e.remote,
      state: e.state,
      initiator: e.initiator,
      rttMs: e.rttMs,
    }));
  }

  openLinks(): PeerAddress[] {
    return [...this.entries.values()].filter((e) => e.state === "open").map((e) => e.remote);
  }

  rttMs(remote: PeerAddress): number | null {
    return this.entries.get(remote)?.rttMs ?? null;
  }

  isOpen(remote: PeerAddress): boolean {
    return this.entries.get(remote)?.state === "open";
  }

  /** A channel of its own for one protocol (see channels.ts). */
  channel(protocol: Protocol): PeerChannel {
    return this.router.channel(protocol);
  }

  /** Frames that arrived and were dropped (no such channel, or another version). */
  droppedFrames(): number {
    return this.router.dropped;
  }

  private sendFrame(remote: PeerAddress, frame: Uint8Array): boolean {
    const entry = this.entries.get(remote);
    return entry?.state === "open" ? entry.link.send(frame) : false;
  }

  bufferedBytes(remote: PeerAddress): number {
    return this.entries.get(remote)?.link.bufferedBytes() ?? 0;
  }

  private broadcastFrame(frame: Uint8Array, except?: PeerAddress): number {
    let sent = 0;
    for (const entry of this.entries.values()) {
      if (entry.state === "open" && entry.remote !== except && entry.link.send(frame)) sent++;
    }
    return sent;
  }

  /** Keeps a direct link to `remote` (beyond the degree), e.g. to a VM's host. */
  pin(remote: PeerAddress): void {
    this.pinned.add(remote);
    this.backoff.delete(remote);
    this.maintainSoon();
  }

  unpin(remote: PeerAddress): void {
    this.pinned.delete(remote);
  }

  private maintainSoon(): void {
    if (!this.running) return;
    this.cancelMaintain?.();
    this.cancelMaintain = this.options.clock.after(0, () => this.maintain());
  }

  private members(): PeerAddress[] {
    return this.signaling
      .members()
      .map((m) => m.peer)
      .filter((p) => p !== this.self);
  }

  /** The two neighbours of this peer on the ring of all members, sorted by address. */
  private ringNeighbours(members: PeerAddress[]): Set<PeerAddress> {
    const ring = [...members, this.self].sort();
    if (ring.length < 2) return new Set();
    const i = ring.indexOf(this.self);
    return new Set([ring[(i + 1) % ring.length]!, ring[(i - 1 + ring.length) % ring.length]!]);
  }

  private maintain(): void {
    this.cancelMaintain = null;
    if (!this.running) return;
    const now = this.options.clock.nowMs();
    const members = this.members();
    const available = (p: PeerAddress) => !this.entries.has(p) && (this.backoff.get(p)?.untilMs ?? 0) <= now;
    for (const p of [...this.ringNeighbours(members), ...this.pinned]) {
      if (!members.includes(p) || !available(p)) continue;
      if (this.entries.size >= this.maxDegree && !this.makeRoomFor(p)) continue;
      this.connect(p);
    }
    const candidates = members.filter(available);
    while (this.entries.size < this.targetDegree && candidates.length > 0) {
      const [pick] = candidates.splice(Math.floor(this.random() * candidates.length), 1);
      this.connect(pick!);
    }
    this.cancelMaintain = this.options.clock.after(this.options.maintainIntervalMs ?? 3000, () =>
      this.maintain(),
    );
  }

  private connect(remote: PeerAddress): void {
    const attempt = `${this.self}/${++this.attemptSeq}`;
    this.open(remote, attempt, true);
  }

  private open(remote: PeerAddress, attempt: string, initiator: boolean): Entry {
    const { clock } = this.options;
    const entry: Entry = {
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
    };
    this.entries.set(remote, entry);
    const current = () => this.entries.get(remote) === entry;
    entry.link = this.factory.create({
      remote,
      initiator,
      iceServers: this.signaling.iceServers(),
      events: {
        signal: (data) => {
          if (current()) this.signaling.sendSignal(remote, { mesh: 1, kind: "rtc", attempt, data });
        },
        open: () => {
          if (!current()) return;
          entry.state = "open";
          entry.lastHeardMs = clock.nowMs();
          entry.cancelTimeout?.();
          entry.cancelTimeout = null;
          this.backoff.delete(remote);
          this.events.emit("open", remote);
          this.events.emit("change");
        },
        message: (data) => {
          if (!current()) return;
          entry.lastHeardMs = clock.nowMs();
          this.router.deliver(remote, data);
        },
        close: (reason) => {
          if (current()) this.drop(entry, reason, entry.state === "connecting");
        },
      },
    });
    entry.cancelTimeout = clock.after(this.options.connectTimeoutMs ?? 20_000, () => {
      entry.cancelTimeout = null;
      if (current() && entry.state === "connecting") this.drop(entry, "timed out", true);
    });
    this.events.emit("change");
    return entry;
  }

  /** Removes a link; a failed attempt makes the peer wait before the next one. */
  private drop(entry: Entry, _reason: string, failed: boolean): void {
    if (this.entries.get(entry.remote) !== entry) return;
    this.entries.delete(entry.remote);
    entry.cancelTimeout?.();
    entry.cancelTimeout = null;
    entry.link.close();
    if (failed) this.penalize(entry.remote);
    if (entry.state === "open") this.events.emit("close", entry.remote);
    this.events.emit("change");
    this.maintainSoon();
  }

  private penalize(remote: PeerAddress, minMs = 1000): void {
    const failures = (this.backoff.get(remote)?.failures ?? 0) + 1;
    const delayMs =
      Math.min(60_000, Math.max(minMs, 1000 * 2 ** (failures - 1))) * (0.75 + this.random() * 0.5);
    this.backoff.set(remote, { untilMs: this.options.clock.nowMs() + delayMs, failures });
  }

  private onSignal(from: PeerAddress, raw: object): void {
    if (!this.running) return;
    const envelope = parseEnvelope(raw);
    if (!envelope) return;
    const entry = this.entries.get(from);
    if (envelope.kind === "refuse") {
      if (entry?.initiator && entry.attempt === envelope.attempt) {
        this.drop(entry, `refused: ${envelope.reason}`, false);
        this.penalize(from, 10_000);
      }
      return;
    }
    if (entry?.attempt === envelope.attempt) {
      entry.link.signal(envelope.data);
      return;
    }
    // A new attempt from `from`, which is the initiator of it.
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
    if (this.entries.size >= this.maxDegree && !this.makeRoomFor(from)) {
      this.signaling.sendSignal(from, { mesh: 1, kind: "refuse", attempt: envelope.attempt, reason: "full" });
      return;
    }
    this.open(from, envelope.attempt, false).link.signal(envelope.data);
  }

  /** At the cap, a ring neighbour or pinned peer still gets in: an ordinary link makes way. */
  private makeRoomFor(remote: PeerAddress): boolean {
    const ring = this.ringNeighbours(this.members());
    if (!ring.has(remote) && !this.pinned.has(remote)) return false;
    const ordinary = [...this.entries.values()].filter(
      (e) => !ring.has(e.remote) && !this.pinned.has(e.remote),
    );
    if (ordinary.length === 0) return false;
    this.drop(ordinary[Math.floor(this.random() * ordinary.length)]!, "making room", false);
    return true;
  }

  private onKeepalive(remote: PeerAddress, payload: Uint8Array): void {
    const entry = this.entries.get(remote);
    if (!entry) return;
    if (payload[0] === PING[0]) this.keepalive.send(remote, PONG);
    else if (payload[0] === PONG[0] && entry.pingSentMs !== null) {
      entry.rttMs = this.options.clock.nowMs() - entry.pingSentMs;
      entry.pingSentMs = null;
    }
  }

  /**
   * Keepalive: every link is pinged every `keepaliveIntervalMs` and dropped after
   * `silentTimeoutMs` of silence; pinned links (a VM's host) every second, and
   * dropped after 4 s, so a vanished host is noticed quickly.
   */
  private scheduleKeepalive(): void {
    const { clock } = this.options;
    const every = this.options.keepaliveIntervalMs ?? 5000;
    const silentMs = this.options.silentTimeoutMs ?? 15_000;
    const tickMs = Math.min(1000, every);
    this.cancelKeepalive = clock.after(tickMs, () => {
      const now = clock.nowMs();
      for (const entry of [...this.entries.values()]) {
        if (entry.state !== "open") continue;
        const pinned = this.pinned.has(entry.remote);
        if (now - entry.lastHeardMs > (pinned ? Math.min(4000, silentMs) : silentMs)) {
          this.drop(entry, "silent", true);
          continue;
        }
        const interval = pinned ? tickMs : every;
        if (now - entry.lastPingMs >= interval) {
          entry.lastPingMs = now;
          entry.pingSentMs = now;
          this.keepalive.send(entry.remote, PING);
        }
      }
      if (this.running) this.scheduleKeepalive();
    });
  }
}
