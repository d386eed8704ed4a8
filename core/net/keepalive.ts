// The mesh's keepalive: every open link is pinged every `intervalMs` and dropped
// after `silentTimeoutMs` with nothing heard; pinned links (a VM's host) every
// half second, and dropped after 1.5 s, so a host that vanishes without a word
// is noticed in about 2 s. The answers give each link its round-trip time. One
// byte on a channel of its own: ping or pong.
//
// Only the other side's silence drops a link, never this side's own lateness: a
// hidden tab's timers may fire once a second or once a minute, and a busy one's
// late, while the link's messages still arrive. So a link is silent only when a
// ping this side sent is still unanswered (nothing at all heard since), the
// timeout has passed since anything was heard, and at least two ticks of this
// side's own have run since the ping (a late tick first lets the answers that
// queued up behind it arrive).
import type { Clock } from "../util/clock.ts";
import { CHANNEL_IDS, type PeerChannel, type Protocol } from "./channels.ts";
import type { LinkEntry, LinkTable } from "./link-table.ts";
import type { PeerAddress } from "./peer-address.ts";

export const MESH_PROTOCOL: Protocol = { name: "mesh", id: CHANNEL_IDS.mesh, version: 1 };
const PING = Uint8Array.of(0);
const PONG = Uint8Array.of(1);

/** How often pinned links are pinged (and the keepalive's tick at most). */
export const PINNED_PING_MS = 500;
/** A pinned link with an unanswered ping and nothing heard for this long is closed. */
export const PINNED_SILENT_MS = 1500;
/** Ticks of this side's own that must pass after a ping before its silence counts. */
const TICKS_TO_JUDGE = 2;

export interface KeepaliveOptions {
  clock: Clock;
  intervalMs: number;
  /** A link with nothing heard for this long (and its ping unanswered) is closed. */
  silentTimeoutMs: number;
}

/** What the keepalive needs of the mesh. */
export interface KeepaliveHost {
  readonly links: LinkTable;
  isPinned(remote: PeerAddress): boolean;
  /** Nothing heard on `entry` for too long. */
  silent(entry: LinkEntry): void;
}

export class Keepalive {
  private cancelTick: (() => void) | null = null;
  private running = false;
  private tickCount = 0;
  /** The tick at which each link's unanswered ping went out. */
  private readonly pingTick = new WeakMap<LinkEntry, number>();

  constructor(
    private readonly channel: PeerChannel,
    private readonly host: KeepaliveHost,
    private readonly options: KeepaliveOptions,
  ) {
    channel.on("message", (remote, payload) => this.receive(remote, payload));
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.cancelTick?.();
    this.cancelTick = null;
  }

  private receive(remote: PeerAddress, payload: Uint8Array): void {
    const entry = this.host.links.get(remote);
    if (!entry) return;
    if (payload[0] === PING[0]) this.channel.send(remote, PONG);
    else if (payload[0] === PONG[0] && entry.pingSentMs !== null) {
      entry.rttMs = this.options.clock.nowMs() - entry.pingSentMs;
      entry.pingSentMs = null;
    }
  }

  private schedule(): void {
    const { clock, intervalMs } = this.options;
    this.cancelTick = clock.after(Math.min(PINNED_PING_MS, intervalMs), () => {
      this.cancelTick = null;
      this.tick();
      if (this.running && !this.cancelTick) this.schedule();
    });
  }

  private tick(): void {
    const { clock, intervalMs, silentTimeoutMs } = this.options;
    const now = clock.nowMs();
    const tick = ++this.tickCount;
    for (const entry of this.host.links.all()) {
      if (entry.state !== "open") continue;
      const pinned = this.host.isPinned(entry.remote);
      const timeoutMs = pinned ? Math.min(PINNED_SILENT_MS, silentTimeoutMs) : silentTimeoutMs;
      const sent = entry.pingSentMs;
      // Unanswered: no pong, and nothing else heard since the ping went out either.
      const unanswered = sent !== null && entry.lastHeardMs <= sent;
      if (
        unanswered &&
        now - entry.lastHeardMs > timeoutMs &&
        tick - (this.pingTick.get(entry) ?? tick) >= TICKS_TO_JUDGE
      ) {
        this.host.silent(entry);
        continue;
      }
      if (unanswered) continue; // the channel is reliable: one ping in flight is enough
      if (now - entry.lastPingMs >= (pinned ? PINNED_PING_MS : intervalMs)) {
        entry.lastPingMs = now;
        entry.pingSentMs = now;
        this.pingTick.set(entry, tick);
        this.channel.send(entry.remote, PING);
      }
    }
  }
}
