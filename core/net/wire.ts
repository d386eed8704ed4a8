// How messages share a link: the first byte names the channel.
export const Channel = {
  /** yjs document sync (y-protocols/sync). */
  Sync: 0,
  /** Presence (y-protocols/awareness). */
  Awareness: 1,
  /** The mesh's own keepalive. */
  Mesh: 2,
  /** Large payloads in chunks (core/transfer.ts). */
  Transfer: 3,
  /** VM control between owners and hosts (core/vm-protocol.ts). */
  Vm: 4,
  /** A VM's console bytes (core/vm-protocol.ts). */
  Shell: 5,
} as const;

export type ChannelId = (typeof Channel)[keyof typeof Channel];

export function frame(channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = channel;
  out.set(payload, 1);
  return out;
}
