// Names on the owner's private network: a guest asks its router (v86's,
// 192.168.86.1) for "two" or "two.lan", and the host answers with the virtual
// address of the owner's VM named "two" (or "no such name"). Only such names
// are answered here: a name with a dot that does not end in ".lan" stays v86's
// to answer. Minimal DNS (RFC 1035): one question, an A answer, UDP.
import { checksumOf, parseIpv4 } from "./lan-packet.ts";

export const DNS_PORT = 53;
/** v86's router, where the guest sends its DNS queries. */
export const ROUTER_IP_BITS = 0xc0a8_5601; // 192.168.86.1

const TYPE_A = 1;
const CLASS_IN = 1;
const MAX_NAME_BYTES = 255;

export interface DnsQuery {
  id: number;
  /** Lower case, without a trailing dot. */
  name: string;
  type: number;
  /** The question as asked (echoed in the answer). */
  question: Uint8Array;
  /** The asker's UDP port and address. */
  sport: number;
  src: number;
}

/** A VM's name as a DNS label: lower case, runs of anything but letters and digits as "-". */
export function nameLabel(vmName: string): string {
  return vmName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
}

/** The VM name a query asks for, if it is one of the owner's network's ("two", "two.lan"); else null. */
export function lanNameOf(name: string): string | null {
  const bare = name.endsWith(".lan") ? name.slice(0, -4) : name;
  return bare.length > 0 && !bare.includes(".") ? bare : null;
}

/** Reads the labels of the question at `at`; null when malformed (compression is not used in questions). */
function readName(bytes: Uint8Array, at: number): { name: string; end: number } | null {
  const labels: string[] = [];
  let i = at;
  for (;;) {
    const length = bytes[i];
    if (length === undefined || length > 63) return null;
    i++;
    if (length === 0) break;
    if (i + length > bytes.length) return null;
    labels.push(String.fromCharCode(...bytes.subarray(i, i + length)).toLowerCase());
    i += length;
    if (i - at > MAX_NAME_BYTES) return null;
  }
  return { name: labels.join("."), end: i };
}

/** The DNS query in an IPv4 packet to the router's port 53, or null when it is not one. */
export function parseDnsQuery(packet: Uint8Array): DnsQuery | null {
  const ip = parseIpv4(packet);
  if (ip?.protocol !== 17 || !ip.firstFragment || ip.dst !== ROUTER_IP_BITS) return null;
  const udp = packet.subarray(ip.headerBytes, ip.totalBytes);
  if (udp.length < 8 + 12) return null;
  const view = new DataView(udp.buffer, udp.byteOffset, udp.byteLength);
  if (view.getUint16(2) !== DNS_PORT) return null;
  const dns = udp.subarray(8);
  const dv = new DataView(dns.buffer, dns.byteOffset, dns.byteLength);
  const flags = dv.getUint16(2);
  if (flags & 0x8000 || dv.getUint16(4) !== 1) return null; // a response, or not one question
  const name = readName(dns, 12);
  if (!name || name.end + 4 > dns.length) return null;
  return {
    id: dv.getUint16(0),
    name: name.name,
    type: dv.getUint16(name.end),
    question: dns.slice(12, name.end + 4),
    sport: view.getUint16(0),
    src: ip.src,
  };
}

/**
 * The router's answer to `q`, as an IPv4 packet to the asker: the address for
 * an A question, "no such name" when `address` is null, and for other types no
 * answer (the name exists, it has no such record).
 */
export function dnsAnswer(q: DnsQuery, address: number | null): Uint8Array {
  const answer = address !== null && q.type === TYPE_A;
  const dns = new Uint8Array(12 + q.question.length + (answer ? 16 : 0));
  const dv = new DataView(dns.buffer);
  dv.setUint16(0, q.id);
  // Response, authoritative, recursion desired and available; rcode 3 (no such name) without an address.
  dv.setUint16(2, 0x8580 | (address === null ? 3 : 0));
  dv.setUint16(4, 1);
  dv.setUint16(6, answer ? 1 : 0);
  dns.set(q.question, 12);
  if (answer) {
    const at = 12 + q.question.length;
    dv.setUint16(at, 0xc00c); // the name: a pointer to the question's
    dv.setUint16(at + 2, TYPE_A);
    dv.setUint16(at + 4, CLASS_IN);
    dv.setUint32(at + 6, 60); // seconds: a VM's address never changes, but its name may
    dv.setUint16(at + 10, 4);
    dv.setUint32(at + 12, address);
  }
  return udpPacket(ROUTER_IP_BITS, q.src, DNS_PORT, q.sport, dns);
}

/** An IPv4 UDP packet (its checksum left out, as IPv4 allows). */
function udpPacket(src: number, dst: number, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(28 + payload.length);
  const view = new DataView(out.buffer);
  out[0] = 0x45;
  view.setUint16(2, out.length);
  out[8] = 64;
  out[9] = 17;
  view.setUint32(12, src);
  view.setUint32(16, dst);
  view.setUint16(10, checksumOf(out.subarray(0, 20)));
  view.setUint16(20, sport);
  view.setUint16(22, dport);
  view.setUint16(24, 8 + payload.length);
  out.set(payload, 28);
  return out;
}
