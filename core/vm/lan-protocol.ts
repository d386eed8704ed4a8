// Packets between the VMs of one owner, carried over the mesh from the host of
// one to the host of the other: one binary frame per IPv4 packet,
// `[type 1][16-byte sender VM id][16-byte receiver VM id][packet]`. The packet's
// source is the sender VM's virtual address and its destination the
// receiver's (core/guest/lan-packet.ts). Parsed at the edge; the receiver's
// host checks the rest (vm-lan.ts).
import { MAX_LAN_PACKET_BYTES, parseIpv4 } from "../guest/lan-packet.ts";
import { CHANNEL_IDS, type Protocol } from "../net/channels.ts";

export const LAN_PROTOCOL: Protocol = { name: "lan", id: CHANNEL_IDS.lan, version: 1 };

const TYPE_PACKET = 1;
const VM_ID_BYTES = 16;
const HEADER_BYTES = 1 + 2 * VM_ID_BYTES;
const VM_ID = /^[0-9a-f]{32}$/;

export interface LanPacket {
  t: "packet";
  from: string;
  to: string;
  packet: Uint8Array;
}

function idBytes(vmId: string): Uint8Array {
  if (!VM_ID.test(vmId)) throw new Error(`not a VM id: ${JSON.stringify(vmId)}`);
  return Uint8Array.from({ length: VM_ID_BYTES }, (_, i) =>
    Number.parseInt(vmId.slice(2 * i, 2 * i + 2), 16),
  );
}

const idText = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function encodeLanPacket(m: LanPacket): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + m.packet.length);
  out[0] = TYPE_PACKET;
  out.set(idBytes(m.from), 1);
  out.set(idBytes(m.to), 1 + VM_ID_BYTES);
  out.set(m.packet, HEADER_BYTES);
  return out;
}

/** The message, or null when it is not one (unknown type, short, or not an IPv4 packet a LAN carries). */
export function parseLanPacket(bytes: Uint8Array): LanPacket | null {
  if (bytes.length < HEADER_BYTES || bytes[0] !== TYPE_PACKET) return null;
  const packet = bytes.slice(HEADER_BYTES);
  if (!parseIpv4(packet)) return null;
  return {
    t: "packet",
    from: idText(bytes.subarray(1, 1 + VM_ID_BYTES)),
    to: idText(bytes.subarray(1 + VM_ID_BYTES, HEADER_BYTES)),
    packet,
  };
}

export { MAX_LAN_PACKET_BYTES };
