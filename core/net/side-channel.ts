// A data channel of its own on an authenticated link, beside the one the mesh
// multiplexes its protocols on. Why: a browser can hand such a channel to a
// worker (an RTCDataChannel is transferable, but only in the task that made
// or received it, before anything on this thread used it). A worker's messages
// are not held back the way the page's are after a keystroke (Chromium defers
// the page's tasks until it has drawn the next frame), so a shell's echo can
// reach shared memory, and the screen, a frame sooner.
//
// It rides the same connection (the same DTLS session) as the link, so it is
// as authenticated as the link is: the mesh offers and accepts side channels
// only on links whose ends have proved their keys. What may be said on one is
// up to its consumer, which parses every message like any other hostile input.
import type { PeerAddress } from "./peer-address.ts";

export interface SideChannel {
  readonly label: string;
  /**
   * The platform's channel object (an RTCDataChannel), to move to another
   * thread; null when it cannot move (Node, or this thread used it already).
   * Call it at once, in the task that made or received the channel. Once it is
   * taken, nothing else on this object works.
   */
  take(): unknown | null;
  /** False when it is not open, or would not take more. */
  send(data: Uint8Array): boolean;
  isOpen(): boolean;
  /** Bytes queued and not yet sent. */
  bufferedBytes(): number;
  /** The first listener keeps the channel on this thread (it can no longer be taken). */
  on(event: "open" | "close", handler: () => void): () => void;
  on(event: "message", handler: (data: Uint8Array) => void): () => void;
  close(): void;
}

/** The side channels of the mesh's authenticated links. */
export interface SideChannelPort {
  /** A new side channel to `remote` (not open yet); null when the link is not open or its transport has none. */
  open(remote: PeerAddress, label: string): SideChannel | null;
  /**
   * A side channel `remote` opened. A handler that wants it uses it (or takes
   * it) before returning; one nobody used is closed.
   */
  onChannel(handler: (remote: PeerAddress, channel: SideChannel) => void): () => void;
}

/** Most characters in a side channel's label; longer ones are refused unread. */
export const MAX_SIDE_CHANNEL_LABEL = 128;

/**
 * Tracks whether a side channel was used on this thread, so the mesh can close
 * the ones nobody wanted. Wraps a transport's channel without touching it.
 */
export class ClaimWatch implements SideChannel {
  claimed = false;
  constructor(private readonly inner: SideChannel) {}
  get label(): string {
    return this.inner.label;
  }
  take(): unknown | null {
    const native = this.inner.take();
    if (native !== null) this.claimed = true;
    return native;
  }
  send(data: Uint8Array): boolean {
    this.claimed = true;
    return this.inner.send(data);
  }
  isOpen(): boolean {
    return this.inner.isOpen();
  }
  bufferedBytes(): number {
    return this.inner.bufferedBytes();
  }
  on(event: "open" | "close", handler: () => void): () => void;
  on(event: "message", handler: (data: Uint8Array) => void): () => void;
  on(event: "open" | "close" | "message", handler: (data: Uint8Array) => void): () => void {
    this.claimed = true;
    return this.inner.on(event as "message", handler);
  }
  close(): void {
    this.inner.close();
  }
}
