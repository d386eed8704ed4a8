// Each VM's address on its owner's private network (the "LAN" of the owner's
// VMs), derived from its VM id like its MAC: the same wherever the VM runs, so
// it follows the VM from host to host with nothing stored. 10.a.b.c with 24
// bits of a hash (c never 0 or 255): two VMs of one owner share an address
// with odds of 1 in ~16 million, and the owner's page picks another VM id
// when a new VM would (see `clashesWith`).
import { sha256 } from "@noble/hashes/sha2.js";

/** The owner's private network: 10.0.0.0/8. Packets the guest sends there go over the mesh. */
export const LAN_PREFIX = 10;

/** The address every guest believes it has (the image's DHCP answer, v86's default). */
export const GUEST_IP_BITS = 0xc0a8_5664; // 192.168.86.100

/** The VM's virtual address as 32 bits (network order), e.g. 0x0a17_0438. */
export function virtualAddressBitsOf(vmId: string): number {
  const hash = sha256(new TextEncoder().encode(`spare-cycles virtual ip\0${vmId}`));
  const c = 1 + (hash[2]! % 254);
  return ((LAN_PREFIX << 24) | (hash[0]! << 16) | (hash[1]! << 8) | c) >>> 0;
}

/** The VM's virtual address, e.g. "10.23.4.56". */
export function virtualAddressOf(vmId: string): string {
  return ipText(virtualAddressBitsOf(vmId));
}

export function ipText(bits: number): string {
  return [bits >>> 24, (bits >>> 16) & 255, (bits >>> 8) & 255, bits & 255].join(".");
}

/** Whether a VM with id `vmId` would share its address with one of `others`. */
export function clashesWith(vmId: string, others: Iterable<string>): boolean {
  const mine = virtualAddressBitsOf(vmId);
  for (const other of others) if (other !== vmId && virtualAddressBitsOf(other) === mine) return true;
  return false;
}

/** Whether an address (32 bits) is on the owners' private network. */
export function isLanAddress(bits: number): boolean {
  return bits >>> 24 === LAN_PREFIX;
}
