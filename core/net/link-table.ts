// The mesh's links, one per remote peer, and what the rest of the mesh and its
// consumers read of them: their state, their round-trip time, their send buffer.
// Frames go out only on open links (set up and authenticated).
import type { LinkAuthenticator } from "./link-auth.ts";
import type { PeerAddress } from "./peer-address.ts";
import type { Link } from "./transport.ts";

export type LinkState = "connecting" | "open";

export interface LinkInfo {
  remote: PeerAddress;
  state: LinkState;
  initiator: boolean;
  /** Round-trip time of the last keepalive ping, if any. */
  rttMs: number | null;
}

/** One link and the attempt that made it. */
export interface LinkEntry {
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
  /** The handshake that proves who is at the other end; the link is "connecting" until it is through. */
  auth: LinkAuthenticator | null;
}

export class LinkTable {
  private readonly entries = new Map<PeerAddress, LinkEntry>();

  get size(): number {
    return this.entries.size;
  }

  get(remote: PeerAddress): LinkEntry | undefined {
    return this.entries.get(remote);
  }

  has(remote: PeerAddress): boolean {
    return this.entries.has(remote);
  }

  add(entry: LinkEntry): void {
    this.entries.set(entry.remote, entry);
  }

  /** Whether `entry` is still the link to its remote (not replaced or dropped). */
  isCurrent(entry: LinkEntry): boolean {
    return this.entries.get(entry.remote) === entry;
  }

  /** Removes `entry` if it is current; false if it was not. */
  remove(entry: LinkEntry): boolean {
    if (!this.isCurrent(entry)) return false;
    this.entries.delete(entry.remote);
    return true;
  }

  /** A snapshot: safe to drop links while going through it. */
  all(): LinkEntry[] {
    return [...this.entries.values()];
  }

  infos(): LinkInfo[] {
    return this.all().map((e) => ({
      remote: e.remote,
      state: e.state,
      initiator: e.initiator,
      rttMs: e.rttMs,
    }));
  }

  openRemotes(): PeerAddress[] {
    return this.all()
      .filter((e) => e.state === "open")
      .map((e) => e.remote);
  }

  isOpen(remote: PeerAddress): boolean {
    return this.entries.get(remote)?.state === "open";
  }

  rttMs(remote: PeerAddress): number | null {
    return this.entries.get(remote)?.rttMs ?? null;
  }

  bufferedBytes(remote: PeerAddress): number {
    return this.entries.get(remote)?.link.bufferedBytes() ?? 0;
  }

  sendFrame(remote: PeerAddress, frame: Uint8Array): boolean {
    const entry = this.entries.get(remote);
    return entry?.state === "open" ? entry.link.send(frame) : false;
  }

  broadcastFrame(frame: Uint8Array, except?: PeerAddress): number {
    let sent = 0;
    for (const entry of this.entries.values()) {
      if (entry.state === "open" && entry.remote !== except && entry.link.send(frame)) sent++;
    }
    return sent;
  }
}
