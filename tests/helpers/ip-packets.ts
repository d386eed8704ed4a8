// IPv4 packets for tests of the owners' private network: ICMP echoes and UDP
// datagrams with right checksums, and readers for what arrives.
import { checksumOf } from "../../core/guest/lan-packet.ts";

export const ipBits = (text: string) =>
  text.split(".").reduce((bits, part) => ((bits << 8) | Number(part)) >>> 0, 0);

function ipv4(src: number, dst: number, protocol: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(20 + payload.length);
  const view = new DataView(out.buffer);
  out[0] = 0x45;
  view.setUint16(2, out.length);
  view.setUint16(4, 0x1234);
  out[8] = 64;
  out[9] = protocol;
  view.setUint32(12, src);
  view.setUint32(16, dst);
  view.setUint16(10, checksumOf(out.subarray(0, 20)));
  out.set(payload, 20);
  return out;
}

/** An ICMP echo request (type 8) or reply (type 0). */
export function icmpEcho(o: {
  src: number;
  dst: number;
  type?: 0 | 8;
  seq?: number;
  data?: string;
}): Uint8Array {
  const data = new TextEncoder().encode(o.data ?? "ping");
  const icmp = new Uint8Array(8 + data.length);
  const view = new DataView(icmp.buffer);
  icmp[0] = o.type ?? 8;
  view.setUint16(4, 0x4242);
  view.setUint16(6, o.seq ?? 1);
  icmp.set(data, 8);
  view.setUint16(2, checksumOf(icmp));
  return ipv4(o.src, o.dst, 1, icmp);
}

/** A UDP datagram, its checksum over the pseudo-header. */
export function udp(o: { src: number; dst: number; sport: number; dport: number; data: string }): Uint8Array {
  const data = new TextEncoder().encode(o.data);
  const seg = new Uint8Array(8 + data.length);
  const view = new DataView(seg.buffer);
  view.setUint16(0, o.sport);
  view.setUint16(2, o.dport);
  view.setUint16(4, seg.length);
  seg.set(data, 8);
  view.setUint16(6, udpChecksum(o.src, o.dst, seg));
  return ipv4(o.src, o.dst, 17, seg);
}

/** The UDP checksum of `seg` between `src` and `dst` (0 when it is right, over a segment that carries it). */
export function udpChecksum(src: number, dst: number, seg: Uint8Array): number {
  const pseudo = new Uint8Array(12 + seg.length);
  const view = new DataView(pseudo.buffer);
  view.setUint32(0, src);
  view.setUint32(4, dst);
  pseudo[9] = 17;
  view.setUint16(10, seg.length);
  pseudo.set(seg, 12);
  return checksumOf(pseudo);
}

export interface ReadPacket {
  src: number;
  dst: number;
  protocol: number;
  /** Whether the IP header's checksum holds. */
  headerOk: boolean;
  payload: Uint8Array;
}

export function readPacket(packet: Uint8Array): ReadPacket {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const ihl = (packet[0]! & 15) * 4;
  return {
    src: view.getUint32(12),
    dst: view.getUint32(16),
    protocol: packet[9]!,
    headerOk: checksumOf(packet.subarray(0, ihl)) === 0,
    payload: packet.subarray(ihl, view.getUint16(2)),
  };
}
