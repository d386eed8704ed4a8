// The peer-to-peer transport behind a small interface: a link to one remote peer
// that sends bytes and emits messages. WebRTC data channels (simple-peer, in the
// browser and in Node with node-datachannel) and an in-memory twin implement it.

import type { PeerAddress } from "./peer-address.ts";
import type { SideChannel } from "./side-channel.ts";
import type { IceServer } from "./signaling-protocol.ts";

export interface LinkEvents {
  /** The link is up; `send` works from now on. */
  open(): void;
  message(data: Uint8Array): void;
  /** The link is gone (closed by either side or failed); called once. */
  close(reason: string): void;
  /** Connection set-up data to hand to the remote through signaling. */
  signal(data: object): void;
  /** The remote opened a side channel (see side-channel.ts); handled in this call, or never. */
  channel?(channel: SideChannel): void;
}

/**
 * The DTLS certificate fingerprints of a link's two ends, as this end sees
 * them: its own, and the one the remote's certificate was checked against.
 * A link spliced by a relay has the relay's fingerprint as `remote`; the two
 * ends of a genuine link see the same pair the other way round.
 */
export interface LinkFingerprints {
  local: string;
  remote: string;
}

/** How a link's packets travel: straight between its two ends, or through a TURN relay. */
export type LinkRoute = "direct" | "relayed" | "unknown";

export interface Link {
  readonly remote: PeerAddress;
  /** Sends one message; returns false when the link is not open. */
  send(data: Uint8Array): boolean;
  /** Bytes queued and not yet sent (for backpressure). */
  bufferedBytes(): number;
  /** Feeds set-up data that came from the remote through signaling. */
  signal(data: object): void;
  /** Both ends' fingerprints, once the set-up data has been exchanged; null before (or if unknown). */
  fingerprints(): LinkFingerprints | null;
  /** A new side channel on this link (see side-channel.ts); absent or null when the transport has none. */
  openChannel?(label: string): SideChannel | null;
  /** Whether the open link goes through a TURN relay (either end's selected candidate); absent when unknowable. */
  route?(): Promise<LinkRoute>;
  close(): void;
}

export interface LinkFactory {
  create(options: {
    remote: PeerAddress;
    initiator: boolean;
    iceServers: IceServer[];
    events: LinkEvents;
  }): Link;
}
