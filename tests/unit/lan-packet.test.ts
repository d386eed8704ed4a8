import { describe, expect, it } from "vitest";
import { checksumOf, MAX_LAN_PACKET_BYTES, parseIpv4, rewriteAddress } from "../../core/guest/lan-packet.ts";
import {
  clashesWith,
  GUEST_IP_BITS,
  isLanAddress,
  virtualAddressBitsOf,
  virtualAddressOf,
} from "../../core/guest/virtual-address.ts";
import { encodeLanPacket, parseLanPacket } from "../../core/vm/lan-protocol.ts";
import { icmpEcho, ipBits, readPacket, udp, udpChecksum } from "../helpers/ip-packets.ts";

const A = "0123456789abcdef0123456789abcdef";
const B = "fedcba9876543210fedcba9876543210";

describe("virtual addresses", () => {
  it("are the VM's own, on 10.0.0.0/8, the same every time", () => {
    expect(virtualAddressOf(A)).toBe(virtualAddressOf(A));
    expect(virtualAddressOf(A)).not.toBe(virtualAddressOf(B));
    expect(virtualAddressOf(A)).toMatch(/^10\.\d+\.\d+\.\d+$/);
    const last = Number(virtualAddressOf(A).split(".")[3]);
    expect(last).toBeGreaterThan(0);
    expect(last).toBeLessThan(255);
    expect(isLanAddress(virtualAddressBitsOf(A))).toBe(true);
    expect(isLanAddress(GUEST_IP_BITS)).toBe(false);
    expect(ipBits("192.168.86.100")).toBe(GUEST_IP_BITS);
  });

  it("tell a clash among an owner's VMs", () => {
    expect(clashesWith(A, [B])).toBe(false);
    expect(clashesWith(A, [A])).toBe(false); // itself does not count
    // Search a clash by brute force among made-up ids (24 bits: a few thousand tries).
    const seen = new Map<number, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; !pair && i < 20_000; i++) {
      const id = i.toString(16).padStart(32, "0");
      const bits = virtualAddressBitsOf(id);
      const before = seen.get(bits);
      if (before) pair = [before, id];
      seen.set(bits, id);
    }
    expect(pair).not.toBeNull();
    expect(clashesWith(pair![0], [B, pair![1]])).toBe(true);
  });
});

describe("address translation", () => {
  const guest = GUEST_IP_BITS;
  const va = virtualAddressBitsOf(A);
  const vb = virtualAddressBitsOf(B);

  it("gives a guest's ping its VM's address, checksums right", () => {
    const out = rewriteAddress(icmpEcho({ src: guest, dst: vb }), "src", va)!;
    const r = readPacket(out);
    expect(r).toMatchObject({ src: va, dst: vb, protocol: 1, headerOk: true });
    expect(checksumOf(r.payload)).toBe(0); // ICMP does not cover addresses: unchanged and right
    const inbound = readPacket(rewriteAddress(out, "dst", guest)!);
    expect(inbound).toMatchObject({ src: va, dst: guest, headerOk: true });
  });

  it("keeps a UDP (and so TCP) checksum right across both rewrites", () => {
    const sent = udp({ src: guest, dst: vb, sport: 5000, dport: 53, data: "hello, odd length!" });
    const out = rewriteAddress(sent, "src", va)!;
    const seg = readPacket(out).payload;
    expect(udpChecksum(va, vb, seg)).toBe(0);
    const inbound = rewriteAddress(out, "dst", guest)!;
    expect(udpChecksum(va, guest, readPacket(inbound).payload)).toBe(0);
    // A datagram without a checksum stays without one.
    const none = sent.slice();
    none[26] = 0;
    none[27] = 0;
    const rewritten = rewriteAddress(none, "src", va)!;
    expect([rewritten[26], rewritten[27]]).toEqual([0, 0]);
  });

  it("takes only whole IPv4 packets a LAN carries", () => {
    const good = icmpEcho({ src: guest, dst: vb });
    expect(parseIpv4(good)).not.toBeNull();
    expect(parseIpv4(good.subarray(0, 19))).toBeNull();
    const v6 = good.slice();
    v6[0] = 0x65;
    expect(parseIpv4(v6)).toBeNull();
    const longer = good.slice();
    longer[3] = 255; // total length past the bytes there are
    expect(parseIpv4(longer)).toBeNull();
    expect(parseIpv4(new Uint8Array(MAX_LAN_PACKET_BYTES + 1).fill(0x45))).toBeNull();
    // Trailing bytes (Ethernet padding) are cut to the packet's own length.
    const padded = new Uint8Array(good.length + 6);
    padded.set(good);
    expect(rewriteAddress(padded, "src", va)!.length).toBe(good.length);
  });
});

describe("the LAN protocol", () => {
  it("carries a packet between two VM ids, and nothing else", () => {
    const packet = icmpEcho({ src: virtualAddressBitsOf(A), dst: virtualAddressBitsOf(B) });
    const bytes = encodeLanPacket({ t: "packet", from: A, to: B, packet });
    expect(parseLanPacket(bytes)).toEqual({ t: "packet", from: A, to: B, packet });
    expect(parseLanPacket(bytes.subarray(0, 20))).toBeNull();
    const wrongType = bytes.slice();
    wrongType[0] = 7;
    expect(parseLanPacket(wrongType)).toBeNull();
    expect(parseLanPacket(bytes.slice(0, 33 + 10))).toBeNull(); // not a whole IPv4 packet
    expect(() => encodeLanPacket({ t: "packet", from: "not-an-id", to: B, packet })).toThrow(/VM id/);
  });
});
