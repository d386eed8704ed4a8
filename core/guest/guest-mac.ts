// Each VM's network card address (MAC), derived from its VM id: the same on
// every host that runs it, so it survives a restore and a move with nothing
// stored, and distinct between VMs (48 bits of a hash). The address is
// locally administered and unicast (first byte xxxxxx10), so it never claims
// a vendor's range and never reads as a multicast group.
import { sha256 } from "@noble/hashes/sha2.js";

const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** The MAC of the VM with this id, as "02:ab:cd:ef:01:23". */
export function guestMacForVm(vmId: string): string {
  const hash = sha256(new TextEncoder().encode(`spare-cycles guest mac\0${vmId}`));
  const bytes = Array.from(hash.subarray(0, 6));
  bytes[0] = (bytes[0]! & 0xfc) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Whether `mac` is a lower-case, colon-separated, unicast MAC. */
export function isUnicastMac(mac: string): boolean {
  return MAC_PATTERN.test(mac) && (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0;
}

export function macBytes(mac: string): Uint8Array {
  if (!MAC_PATTERN.test(mac)) throw new Error(`not a MAC address: ${JSON.stringify(mac)}`);
  return Uint8Array.from(mac.split(":"), (part) => Number.parseInt(part, 16));
}

/**
 * The MAC the image's guest is built with, and so the one every VM restored
 * from the image believes it has inside (on the wire, each VM has its own).
 */
export const IMAGE_GUEST_MAC = "02:53:43:00:00:01";
