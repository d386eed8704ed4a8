// This peer's presence in the shared awareness: signed when the peer starts,
// whenever what it says changes, and again every `intervalMs` even when nothing
// did, so others see it is still there.
import type { Awareness } from "y-protocols/awareness";
import type { Identity } from "../crypto/identity.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import { type Presence, signPresence } from "../state/presence.ts";
import type { Clock } from "../util/clock.ts";

export type PresenceFields = Omit<Presence, "peer" | "at" | "boxKey">;

export interface PresencePublisherOptions {
  identity: Identity;
  clock: Clock;
  self: () => PeerAddress;
  /** What this peer says about itself; read whenever presence is signed. */
  presence: () => PresenceFields;
  intervalMs: number;
  now: () => number;
}

export class PresencePublisher {
  private cancelNext: (() => void) | null = null;
  private running = false;

  constructor(
    private readonly awareness: Awareness,
    private readonly options: PresencePublisherOptions,
  ) {}

  start(): Promise<void> {
    this.running = true;
    return this.publish();
  }

  stop(): void {
    this.running = false;
    this.cancelNext?.();
    this.cancelNext = null;
  }

  /** Signs this peer's presence now. */
  async publish(): Promise<void> {
    if (!this.running) return;
    this.cancelNext?.();
    const { identity, clock } = this.options;
    const presence: Presence = {
      ...this.options.presence(),
      peer: this.options.self(),
      boxKey: identity.box.publicKey,
      at: this.options.now(),
    };
    const signed = await signPresence(identity, presence);
    if (!this.running) return;
    this.awareness.setLocalState(signed);
    this.cancelNext = clock.after(this.options.intervalMs, () => {
      void this.publish();
    });
  }
}
