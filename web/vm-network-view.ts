// What My VMs says of a VM's network, as plain text (no DOM, so it is tested
// alone): its address on the owner's private network, whether its host lets it
// reach the internet, and what its published ports served.
import { virtualAddressOf } from "../core/guest/virtual-address.ts";
import { formatBytes } from "../core/util/format.ts";
import type { OwnedVm } from "../core/vm/owner-runtime.ts";

export interface VmNetworkText {
  /** "10.23.4.56": where the owner's other VMs reach it, wherever it runs. */
  address: string;
  /** Whether its host carries its traffic to the internet; empty while no host runs it. */
  outbound: string;
  /** What its published ports served (empty until they served anything). */
  traffic: string;
}

export const OUTBOUND_OFF = "Outbound: off (this host does not carry a VM's traffic)";

export function vmNetworkText(v: OwnedVm, hostLabel: (host: string) => string): VmNetworkText {
  const said = v.outbound?.epoch === v.epoch ? v.outbound : null;
  const outbound = !v.host
    ? ""
    : !said
      ? "Outbound: asking its host"
      : said.allowed
        ? `Outbound: on via ${hostLabel(v.host)}`
        : OUTBOUND_OFF;
  const { requests, bytesIn, bytesOut } = v.web;
  const traffic =
    requests === 0
      ? ""
      : `${requests} ${requests === 1 ? "request" : "requests"} served · ${formatBytes(bytesIn)} in · ${formatBytes(bytesOut)} out`;
  return { address: virtualAddressOf(v.vmId), outbound, traffic };
}
