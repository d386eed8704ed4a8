// The mesh's keepalive: every open link is pinged every `intervalMs` and dropped
// after `silentTimeoutMs` with nothing heard; pinned links (a VM's host) every
// second, and dropped after 4 s, so a vanished host is noticed quickly. The
// answers give each link its round-trip time. One byte on a channel of its own:
// ping or pong.
import type { Clock } from "../util/clock.ts";
import { CHANNEL_IDS, type PeerChannel, type Protocol } from "./channels.ts";
import type { LinkEntry, LinkTable } from "./link-table.ts";
import type { PeerAddress } from "./peer-address.ts";

export const MESH_PROTOCOL: Protocol = { name: "mesh", id: CHANNEL_IDS.mesh, version: 1 };
const PING = Uint8Array.of(0);
const PONG = Uint8Array.of(1);

export interface KeepaliveOptions {
  clock: Clock;
  intervalMs: number;
  /** A link with nothing heard for this long is closed. */
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
    const { clock, intervalMs, silentTimeoutMs } = this.options;
    const tickMs = Math.min(1000, intervalMs);
    this.cancelTick = clock.after(tickMs, () => {
      this.cancelTick = null;
      const now = clock.nowMs();
      for (const entry of this.host.links.all()) {
        if (entry.state !== "open") continue;
        const pinned = this.host.isPinned(entry.remote);
        if (now - entry.lastHeardMs > (pinned ? Math.min(4000, silentTimeoutMs) : silentTimeoutMs)) {
          this.host.silent(entry);
          continue;
        }
        if (now - entry.lastPingMs >= (pinned ? tickMs : intervalMs)) {
          entry.lastPingMs = now;
          entry.pingSentMs = now;
          this.channel.send(entry.remote, PING);
        }
      }
      if (this.running && !this.cancelTick) this.schedule();
    });
  }
}
