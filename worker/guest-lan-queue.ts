// The guest's packets to its owner's network, waiting for the host to take
// them (worker/api.ts GuestLanApi): a bounded queue, as a network card's ring
// is, so a guest that sends faster than its host forwards loses packets (its
// TCP sends them again) instead of growing its host's memory.
import { MAX_LAN_QUEUE } from "./guest-nic.ts";

export class GuestLanQueue {
  private packets: Uint8Array[] = [];
  private waiter: ((packets: Uint8Array[] | null) => void) | null = null;
  private closed = false;
  /** Packets dropped because the queue was full. */
  dropped = 0;

  push(packet: Uint8Array): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w([packet]);
      return;
    }
    if (this.packets.length >= MAX_LAN_QUEUE) {
      this.dropped++;
      return;
    }
    this.packets.push(packet);
  }

  /** Everything waiting, or the next packet when nothing is; null once closed. */
  take(): Promise<Uint8Array[] | null> {
    if (this.packets.length > 0) {
      const out = this.packets;
      this.packets = [];
      return Promise.resolve(out);
    }
    if (this.closed) return Promise.resolve(null);
    // One taker at a time: a second take ends the first with nothing.
    this.waiter?.([]);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  close(): void {
    this.closed = true;
    this.packets = [];
    this.waiter?.(null);
    this.waiter = null;
  }
}
