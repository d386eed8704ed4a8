// Two ends of one in-memory link, each a MeshPort with the real channel router:
// for testing one protocol between two peers without the rest of the mesh.
// Frames arrive a microtask later; an end can drop its next frames or go down.
import { ChannelRouter, type MeshPort, type PeerChannel, type Protocol } from "../../core/net/channels.ts";
import { Emitter } from "../../core/util/emitter.ts";

export class PairEnd implements MeshPort {
  readonly events = new Emitter<{ open: (r: string) => void; close: (r: string) => void }>();
  other!: PairEnd;
  /** Whether frames leave this end at all. */
  open = true;
  /** Frames to lose on the way out (the link said yes, the bytes never arrived). */
  dropNext = 0;
  /** Bytes sent from this end, for measuring. */
  sentBytes = 0;
  readonly router = new ChannelRouter(
    (remote, frame) => this.deliver(remote, frame),
    (frame, except) => (except === this.other.self ? 0 : Number(this.deliver(this.other.self, frame))),
  );
  constructor(readonly self: string) {}

  private deliver(remote: string, frame: Uint8Array): boolean {
    if (!this.open || remote !== this.other.self) return false;
    this.sentBytes += frame.length;
    if (this.dropNext > 0) {
      this.dropNext--;
      return true;
    }
    const to = this.other;
    queueMicrotask(() => to.router.deliver(this.self, frame.slice()));
    return true;
  }

  channel(protocol: Protocol): PeerChannel {
    return this.router.channel(protocol);
  }
  on(event: "open" | "close", handler: (remote: string) => void): () => void {
    return this.events.on(event, handler);
  }
  isOpen(remote: string): boolean {
    return this.open && remote === this.other.self;
  }
  openLinks(): string[] {
    return this.open ? [this.other.self] : [];
  }
  bufferedBytes(): number {
    return 0;
  }
  rttMs(): number | null {
    return null;
  }
  pin(): void {}
  unpin(): void {}
}

/** Two ends linked to each other, not yet announced as open. */
export function meshPair(a = "a", b = "b"): [PairEnd, PairEnd] {
  const x = new PairEnd(a);
  const y = new PairEnd(b);
  x.other = y;
  y.other = x;
  return [x, y];
}

/** Opens the link (if it was down) and tells both ends. */
export function openPair(x: PairEnd, y: PairEnd): void {
  x.open = y.open = true;
  x.events.emit("open", y.self);
  y.events.emit("open", x.self);
}
