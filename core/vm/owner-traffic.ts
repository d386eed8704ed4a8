// What the owner's tab adds up of its VMs' web traffic: each host reports what
// the VM's published ports served in its lease (cumulative, in its meter
// messages), so the VM's total is the sum over epochs of each lease's newest
// report. A host only ever raises its own lease's figures; the oldest epochs
// are folded into one sum, so memory stays bounded however often a VM moves.
import type { WebCounters } from "./web-host.ts";

/** Epochs kept apart per VM; older ones are summed into `carried`. */
const EPOCHS_KEPT = 8;
/** VMs tracked (an owner has far fewer; a bound against a flood of reports). */
const VMS_KEPT = 1024;

interface VmTraffic {
  carried: WebCounters;
  /** The newest epoch folded into `carried`: later reports of it are too late to count. */
  carriedThrough: number;
  byEpoch: Map<number, WebCounters>;
}

const zero = (): WebCounters => ({ requests: 0, bytesIn: 0, bytesOut: 0 });
const add = (a: WebCounters, b: WebCounters): WebCounters => ({
  requests: a.requests + b.requests,
  bytesIn: a.bytesIn + b.bytesIn,
  bytesOut: a.bytesOut + b.bytesOut,
});

export class OwnerTraffic {
  private readonly vms = new Map<string, VmTraffic>();

  /** The host of `epoch` says its lease served `counters` so far; returns the VM's total. */
  note(vmId: string, epoch: number, counters: WebCounters): WebCounters {
    let t = this.vms.get(vmId);
    if (!t) {
      if (this.vms.size >= VMS_KEPT) this.vms.delete(this.vms.keys().next().value!);
      t = { carried: zero(), carriedThrough: -1, byEpoch: new Map() };
      this.vms.set(vmId, t);
    }
    if (epoch <= t.carriedThrough) return this.total(vmId);
    const known = t.byEpoch.get(epoch);
    // Cumulative: a late or replayed report never lowers what was seen.
    t.byEpoch.set(epoch, {
      requests: Math.max(known?.requests ?? 0, counters.requests),
      bytesIn: Math.max(known?.bytesIn ?? 0, counters.bytesIn),
      bytesOut: Math.max(known?.bytesOut ?? 0, counters.bytesOut),
    });
    while (t.byEpoch.size > EPOCHS_KEPT) {
      const oldest = Math.min(...t.byEpoch.keys());
      t.carried = add(t.carried, t.byEpoch.get(oldest)!);
      t.byEpoch.delete(oldest);
      t.carriedThrough = oldest;
    }
    return this.total(vmId);
  }

  total(vmId: string): WebCounters {
    const t = this.vms.get(vmId);
    return t ? [...t.byEpoch.values()].reduce(add, t.carried) : zero();
  }

  forget(vmId: string): void {
    this.vms.delete(vmId);
  }
}
