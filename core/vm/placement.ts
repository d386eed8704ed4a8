// Placement: which contributor should run a VM. Pure: it sees what the peers say
// about themselves (verified presence), the leases already handed out, and the
// hosts to avoid, and picks the one with the most room.

import type { PeerAddress } from "../net/peer-address.ts";
import type { Presence } from "../state/presence.ts";

export interface HostCandidate {
  presence: Presence;
  /** Whether this peer has a direct link to the candidate now. */
  direct: boolean;
  rttMs: number | null;
}

export interface PlacementRequest {
  vmId: string;
  memoryBytes: number;
  /** Hosts never to pick (the one that failed, the owner itself). */
  exclude: ReadonlySet<PeerAddress>;
  /** Leases handed out that the hosts' presence may not show yet, by host. */
  pending: ReadonlyMap<PeerAddress, number>;
  /**
   * Offer only hosts whose slots are all taken (a last resort: a full host may
   * give a slot to an owner in better standing than one it hosts).
   */
  full?: boolean;
}

const MIB = 1024 * 1024;
/** What a VM costs its host beyond guest memory (emulator, JIT, buffers). */
export const HOST_OVERHEAD_BYTES = 64 * MIB;

export interface Offer {
  host: PeerAddress;
  freeSlots: number;
}

/** Hosts that can take the VM, best first. */
export function rankHosts(request: PlacementRequest, candidates: HostCandidate[]): Offer[] {
  const offers: (Offer & { score: number[] })[] = [];
  for (const c of candidates) {
    const p = c.presence;
    const cap = p.capacity;
    if (!cap.contributing || request.exclude.has(p.peer)) continue;
    const used = p.load.vms + (request.pending.get(p.peer) ?? 0);
    const freeSlots = cap.slots - used;
    if (cap.budgetPct <= 0 || (request.full ? freeSlots > 0 || cap.slots <= 0 : freeSlots <= 0)) continue;
    const perVmBytes = request.memoryBytes + HOST_OVERHEAD_BYTES;
    // A full host makes room by letting one VM go: it needs memory for as many as it has.
    if (cap.memoryMiB * MIB < perVmBytes * (request.full ? Math.min(used, cap.slots) : used + 1)) continue;
    offers.push({
      host: p.peer,
      freeSlots,
      // Most free slots, then most CPU offered, then a direct link, then lowest RTT, then a stable spread.
      score: [freeSlots, cap.budgetPct, c.direct ? 1 : 0, -(c.rttMs ?? 1e6), spread(request.vmId, p.peer)],
    });
  }
  offers.sort((a, b) => {
    for (let i = 0; i < a.score.length; i++) {
      const d = b.score[i]! - a.score[i]!;
      if (d !== 0) return d;
    }
    return 0;
  });
  return offers.map(({ host, freeSlots }) => ({ host, freeSlots }));
}

/** A number from 0 to 1 that differs per (vm, host) pair, so equal hosts share the load. */
function spread(vmId: string, host: string): number {
  let h = 2166136261;
  for (const c of `${vmId}|${host}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return (h >>> 0) / 2 ** 32;
}
