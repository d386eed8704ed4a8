import { describe, expect, it } from "vitest";
import { dnsAnswer, lanNameOf, nameLabel, parseDnsQuery, ROUTER_IP_BITS } from "../../core/guest/lan-dns.ts";
import { checksumOf } from "../../core/guest/lan-packet.ts";
import { GUEST_IP_BITS } from "../../core/guest/virtual-address.ts";
import { ipBits, readPacket, udp } from "../helpers/ip-packets.ts";

/** A DNS query for `name` (type A unless told), as the guest's resolver sends it. */
function query(name: string, type = 1, id = 0xbeef): Uint8Array {
  const labels = name.split(".").flatMap((l) => [l.length, ...new TextEncoder().encode(l)]);
  const dns = new Uint8Array([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, type, 0, 1]);
  // An empty datagram, the binary question put after it and the lengths set again.
  const packet = udp({ src: GUEST_IP_BITS, dst: ROUTER_IP_BITS, sport: 40000, dport: 53, data: "" });
  const out = new Uint8Array(packet.length + dns.length);
  out.set(packet);
  out.set(dns, packet.length);
  const view = new DataView(out.buffer);
  view.setUint16(2, out.length);
  view.setUint16(10, 0);
  view.setUint16(10, checksumOf(out.subarray(0, 20)));
  view.setUint16(24, 8 + dns.length);
  view.setUint16(26, 0); // no UDP checksum
  return out;
}

describe("names on the owner's network", () => {
  it("are VM names as DNS labels, bare or under .lan", () => {
    expect(nameLabel("My Web Server!")).toBe("my-web-server");
    expect(nameLabel("--two--")).toBe("two");
    expect(lanNameOf("two")).toBe("two");
    expect(lanNameOf("two.lan")).toBe("two");
    expect(lanNameOf("example.com")).toBeNull();
    expect(lanNameOf(".lan")).toBeNull();
  });

  it("answers an A question with the address, and says when there is no such name", () => {
    const q = parseDnsQuery(query("Two.lan"))!;
    expect(q).toMatchObject({ id: 0xbeef, name: "two.lan", type: 1, sport: 40000, src: GUEST_IP_BITS });
    const address = ipBits("10.1.2.3");
    const r = readPacket(dnsAnswer(q, address));
    expect(r).toMatchObject({ src: ROUTER_IP_BITS, dst: GUEST_IP_BITS, protocol: 17, headerOk: true });
    const dns = r.payload.subarray(8);
    const view = new DataView(dns.buffer, dns.byteOffset, dns.byteLength);
    expect(view.getUint16(0)).toBe(0xbeef);
    expect(view.getUint16(2) & 0x800f).toBe(0x8000); // a response, no error
    expect(view.getUint16(6)).toBe(1);
    expect(view.getUint32(dns.length - 4)).toBe(address);
    const missing = readPacket(dnsAnswer(q, null)).payload.subarray(8);
    expect(missing[3]! & 0x0f).toBe(3); // no such name
    expect((missing[6]! << 8) | missing[7]!).toBe(0);
    // An AAAA question for a name that exists: no answer, no error (busybox asks both).
    const aaaa = parseDnsQuery(query("two", 28))!;
    const none = readPacket(dnsAnswer(aaaa, address)).payload.subarray(8);
    expect(none[3]! & 0x0f).toBe(0);
    expect((none[6]! << 8) | none[7]!).toBe(0);
  });

  it("reads only queries to the router's port 53", () => {
    expect(parseDnsQuery(query("two").subarray(0, 30))).toBeNull();
    const toOther = query("two");
    toOther[19] = 7; // another destination
    expect(parseDnsQuery(toOther)).toBeNull();
    const answerNotQuestion = query("two");
    answerNotQuestion[30] = 0x80;
    expect(parseDnsQuery(answerNotQuestion)).toBeNull();
    const looping = query("two");
    looping[40] = 200; // a label longer than the packet
    expect(parseDnsQuery(looping)).toBeNull();
  });
});
