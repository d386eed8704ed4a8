// A peer's address: who it is (the peer id, derived from its public key) and
// which tab or process of that identity (the session). Everything that names a
// peer uses it, so it lives apart from any one protocol.

/** A peer's address: its identity (peer id) and the session of one tab or process. */
export type PeerAddress = string;
export const PEER_ADDRESS_PATTERN = /^[0-9a-f]{32}\.[A-Za-z0-9_-]{1,32}$/;

export function peerAddress(peerId: string, session: string): PeerAddress {
  return `${peerId}.${session}`;
}

export function peerIdOf(address: PeerAddress): string {
  return address.slice(0, address.indexOf("."));
}
