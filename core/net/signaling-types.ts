// What the mesh needs from signaling: who is in the room, and a way to pass
// connection set-up data to one of them. The WebSocket client and the in-memory
// hub implement it.

import type { PeerAddress } from "./peer-address.ts";
import type { IceServer, PeerInfo } from "./signaling-protocol.ts";

export interface SignalingEvents {
  /** Joined (or re-joined after a reconnect) with these other members. */
  joined: (peers: PeerInfo[]) => void;
  "peer-joined": (peer: PeerInfo) => void;
  "peer-left": (peer: PeerAddress) => void;
  signal: (from: PeerAddress, data: object) => void;
}

export interface SignalingLike {
  readonly self: PeerAddress;
  members(): PeerInfo[];
  iceServers(): IceServer[];
  sendSignal(to: PeerAddress, data: object): boolean;
  on<K extends keyof SignalingEvents>(event: K, handler: SignalingEvents[K]): () => void;
}
