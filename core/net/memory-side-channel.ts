// The in-memory twin of a side channel (side-channel.ts): a pair of ends that
// pass bytes to each other asynchronously, open once the remote end was handed
// to its link's consumer, closed together. They never move to another thread.
import type { SideChannel } from "./side-channel.ts";

type Deliver = (fn: () => void) => void;

export class MemorySideChannel implements SideChannel {
  peer: MemorySideChannel | null = null;
  private state: "connecting" | "open" | "closed" = "connecting";
  private readonly opened = new Set<() => void>();
  private readonly closed = new Set<() => void>();
  private readonly messages = new Set<(data: Uint8Array) => void>();

  constructor(
    readonly label: string,
    private readonly deliver: Deliver,
  ) {}

  /** Two connected ends: the first for the side that opened it, the second for the remote. */
  static pair(label: string, deliver: Deliver): [MemorySideChannel, MemorySideChannel] {
    const a = new MemorySideChannel(label, deliver);
    const b = new MemorySideChannel(label, deliver);
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  take(): null {
    return null;
  }

  markOpen(): void {
    if (this.state !== "connecting") return;
    this.state = "open";
    for (const h of [...this.opened]) h();
  }

  send(data: Uint8Array): boolean {
    const peer = this.peer;
    if (this.state !== "open" || !peer) return false;
    const copy = data.slice();
    this.deliver(() => {
      if (peer.state === "open") for (const h of [...peer.messages]) h(copy);
    });
    return true;
  }

  isOpen(): boolean {
    return this.state === "open";
  }

  bufferedBytes(): number {
    return 0;
  }

  on(event: "open" | "close", handler: () => void): () => void;
  on(event: "message", handler: (data: Uint8Array) => void): () => void;
  on(event: "open" | "close" | "message", handler: (data: Uint8Array) => void): () => void {
    const set = event === "open" ? this.opened : event === "close" ? this.closed : this.messages;
    set.add(handler as () => void);
    return () => set.delete(handler as () => void);
  }

  close(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    const peer = this.peer;
    this.peer = null;
    for (const h of [...this.closed]) h();
    this.opened.clear();
    this.closed.clear();
    this.messages.clear();
    if (peer) this.deliver(() => peer.close());
  }
}
