// How messages share a link: the first byte names the channel.
export const Channel = {
  /** yjs document sync (y-protocols/sync). */
  Sync: 0,
  /** Presence (y-protocols/awareness). */
  Awareness: 1,
  /** The mesh's own keepalive. */
  Mesh: 2,
} as const;

export type ChannelId = (typeof Channel)[keyof typeof Channel];

export function frame(channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = channel;
  out.set(payload, 1);
  return out;
}
