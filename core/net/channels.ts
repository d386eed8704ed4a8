// How protocols share a link: every frame starts with two bytes, the channel id
// and the version of the protocol on it, then that protocol's payload. The mesh
// routes each frame to the consumers of its channel, so no consumer ever reads
// another's bytes or the header itself. A frame for a channel nobody listens to,
// or of a version this build does not speak, is dropped and counted.
import type { PeerAddress } from "./peer-address.ts";
import type { SideChannelPort } from "./side-channel.ts";

/** A protocol carried on the mesh: its channel id (unique per link) and its version. */
export interface Protocol {
  readonly name: string;
  readonly id: number;
  readonly version: number;
}

/** The channel ids in use, in one place so two protocols never share one. */
export const CHANNEL_IDS = {
  // 0 and 1 carried yjs document sync and awareness; retired, so an old peer's frames are dropped.
  mesh: 2,
  transfer: 3,
  vm: 4,
  shell: 5,
  checkpoint: 6,
  linkAuth: 7,
  web: 8,
  lan: 9,
  files: 10,
  presence: 16,
  state: 20,
} as const;

export const FRAME_HEADER_BYTES = 2;

export function encodeFrame(protocol: Protocol, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  out[0] = protocol.id;
  out[1] = protocol.version;
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export interface Frame {
  id: number;
  version: number;
  payload: Uint8Array;
}

export function decodeFrame(data: Uint8Array): Frame | null {
  if (data.length < FRAME_HEADER_BYTES) return null;
  return { id: data[0]!, version: data[1]!, payload: data.subarray(FRAME_HEADER_BYTES) };
}

/** One protocol's view of the mesh: payloads in and out, never another channel's bytes. */
export interface PeerChannel {
  readonly protocol: Protocol;
  /** Sends one payload; false when there is no open link to `remote` or it would not take it. */
  send(remote: PeerAddress, payload: Uint8Array): boolean;
  /** Sends to every open link but `except`; returns how many took it. */
  broadcast(payload: Uint8Array, except?: PeerAddress): number;
  on(event: "message", handler: (remote: PeerAddress, payload: Uint8Array) => void): () => void;
}

type Handler = (remote: PeerAddress, payload: Uint8Array) => void;

interface Route {
  protocol: Protocol;
  handlers: Set<Handler>;
}

/** Frames in, payloads out: the part of the mesh that knows about channels. */
export class ChannelRouter {
  private readonly routes = new Map<number, Route>();
  /** Frames dropped: unknown channel, other version, or too short. */
  dropped = 0;

  constructor(
    private readonly sendFrame: (remote: PeerAddress, frame: Uint8Array) => boolean,
    private readonly broadcastFrame: (frame: Uint8Array, except?: PeerAddress) => number,
  ) {}

  /** The channel for `protocol`; several consumers may each hold one for the same protocol. */
  channel(protocol: Protocol): PeerChannel {
    const existing = this.routes.get(protocol.id);
    if (
      existing &&
      (existing.protocol.name !== protocol.name || existing.protocol.version !== protocol.version)
    )
      throw new Error(
        `channel ${protocol.id} is taken by ${existing.protocol.name}/${existing.protocol.version}`,
      );
    const route = existing ?? { protocol, handlers: new Set<Handler>() };
    this.routes.set(protocol.id, route);
    return {
      protocol,
      send: (remote, payload) => this.sendFrame(remote, encodeFrame(protocol, payload)),
      broadcast: (payload, except) => this.broadcastFrame(encodeFrame(protocol, payload), except),
      on: (_event, handler) => {
        route.handlers.add(handler);
        return () => route.handlers.delete(handler);
      },
    };
  }

  /** Hands a frame that arrived from `remote` to the consumers of its channel. */
  deliver(remote: PeerAddress, data: Uint8Array): void {
    const frame = decodeFrame(data);
    const route = frame && this.routes.get(frame.id);
    if (!frame || !route || route.protocol.version !== frame.version) {
      this.dropped++;
      return;
    }
    for (const handler of [...route.handlers]) handler(remote, frame.payload);
  }

  clear(): void {
    for (const route of this.routes.values()) route.handlers.clear();
  }
}

/** What every consumer of the mesh sees of it: its links, and a channel per protocol. */
export interface MeshPort {
  readonly self: PeerAddress;
  channel(protocol: Protocol): PeerChannel;
  on(event: "open" | "close", handler: (remote: PeerAddress) => void): () => void;
  isOpen(remote: PeerAddress): boolean;
  openLinks(): PeerAddress[];
  /** Bytes queued on the link to `remote` and not yet sent (for backpressure). */
  bufferedBytes(remote: PeerAddress): number;
  /** Round-trip time of the last keepalive on the link to `remote`. */
  rttMs(remote: PeerAddress): number | null;
  /** Keeps a direct link to `remote` beyond the mesh's degree (e.g. to a VM's host). */
  pin(remote: PeerAddress): void;
  unpin(remote: PeerAddress): void;
  /** Data channels of their own on authenticated links, where the transport has them (side-channel.ts). */
  readonly sideChannels?: SideChannelPort;
}
