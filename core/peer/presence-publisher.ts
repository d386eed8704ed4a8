// This peer's presence on the presence board: signed when the peer starts,
// whenever what it says changes, and again every `intervalMs` even when nothing
// did, so others see it is still there.

import type { Identity } from "../crypto/identity.ts";
import type { SignedEntry } from "../crypto/signed.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import { type Presence, signPresence } from "../state/presence.ts";
import type { Clock } from "../util/clock.ts";

export type PresenceFields = Omit<Presence, "peer" | "at" | "boxKey">;

/** Where signed presence goes (the PresenceBoard). */
export interface PresenceSink {
  publish(identity: Identity, entry: SignedEntry<Presence>): Promise<void>;
}

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
  private lastAt = 0;

  constructor(
    private readonly board: PresenceSink,
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
      // Strictly later than the last one, so two signed within one millisecond still replace each other.
      at: Math.max(this.options.now(), this.lastAt + 1),
    };
    this.lastAt = presence.at;
    const signed = await signPresence(identity, presence);
    if (!this.running) return;
    await this.board.publish(identity, signed);
    if (!this.running) return;
    this.cancelNext?.(); // another publish may have finished meanwhile: one timer only
    this.cancelNext = clock.after(this.options.intervalMs, () => {
      void this.publish();
    });
  }
}
