// IPv4 packets on the owner's private network, and the one-to-one address
// translation that puts a guest on it. Every guest believes it is
// 192.168.86.100 (the image's DHCP answer); on the owner's network it is its
// VM's virtual address (virtual-address.ts). So a packet the guest sends to
// 10.x.y.z leaves with its source rewritten to the VM's virtual address, and a
// packet for the VM arrives with its destination rewritten to the guest's:
// the IP header checksum is made again, and the TCP or UDP checksum (which
// covers both addresses) is adjusted by the difference (RFC 1624), so the
// guests' own TCP/IP stacks talk to each other unchanged.

/** What a packet must be to travel: IPv4, a whole header, at most one Ethernet MTU. */
export const MAX_LAN_PACKET_BYTES = 1500;

const PROTOCOL_TCP = 6;
const PROTOCOL_UDP = 17;

export interface Ipv4Header {
  /** Header length in bytes. */
  headerBytes: number;
  totalBytes: number;
  protocol: number;
  /** 32-bit addresses, network order as numbers. */
  src: number;
  dst: number;
  /** Whether this is the first fragment (or the whole datagram): it carries the TCP/UDP header. */
  firstFragment: boolean;
}

/** Reads an IPv4 header, or null when `packet` is not one a LAN carries. */
export function parseIpv4(packet: Uint8Array): Ipv4Header | null {
  if (packet.length < 20 || packet.length > MAX_LAN_PACKET_BYTES) return null;
  if (packet[0]! >> 4 !== 4) return null;
  const headerBytes = (packet[0]! & 0x0f) * 4;
  if (headerBytes < 20 || headerBytes > packet.length) return null;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const totalBytes = view.getUint16(2);
  if (totalBytes < headerBytes || totalBytes > packet.length) return null;
  const fragmentOffset = view.getUint16(6) & 0x1fff;
  return {
    headerBytes,
    totalBytes,
    protocol: packet[9]!,
    src: view.getUint32(12),
    dst: view.getUint32(16),
    firstFragment: fragmentOffset === 0,
  };
}

/**
 * A copy of `packet` (trimmed to its IPv4 total length) with its source or
 * destination address replaced and every checksum that covers it made right.
 * Null when it is not an IPv4 packet a LAN carries.
 */
export function rewriteAddress(packet: Uint8Array, which: "src" | "dst", address: number): Uint8Array | null {
  const header = parseIpv4(packet);
  if (!header) return null;
  const out = packet.slice(0, header.totalBytes);
  const view = new DataView(out.buffer);
  const at = which === "src" ? 12 : 16;
  const before = view.getUint32(at);
  view.setUint32(at, address >>> 0);
  // The IP header's checksum, made again over the header.
  view.setUint16(10, 0);
  view.setUint16(10, checksumOf(out.subarray(0, header.headerBytes)));
  if (!header.firstFragment) return out;
  const l4 = header.headerBytes;
  const checksumAt =
    header.protocol === PROTOCOL_TCP && out.length >= l4 + 18
      ? l4 + 16
      : header.protocol === PROTOCOL_UDP && out.length >= l4 + 8
        ? l4 + 6
        : -1;
  if (checksumAt < 0) return out;
  const checksum = view.getUint16(checksumAt);
  // UDP's checksum 0 means "none": it stays none.
  if (header.protocol === PROTOCOL_UDP && checksum === 0) return out;
  let adjusted = adjustChecksum(checksum, before >>> 16, address >>> 16);
  adjusted = adjustChecksum(adjusted, before & 0xffff, address & 0xffff);
  if (header.protocol === PROTOCOL_UDP && adjusted === 0) adjusted = 0xffff;
  view.setUint16(checksumAt, adjusted);
  return out;
}

/** The Internet checksum (RFC 1071) of `bytes`. */
export function checksumOf(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A checksum with one 16-bit word changed from `from` to `to` (RFC 1624, eqn. 3). */
function adjustChecksum(checksum: number, from: number, to: number): number {
  let sum = (~checksum & 0xffff) + (~from & 0xffff) + to;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
