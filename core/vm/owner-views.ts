// What the owner's tab shows of its VMs: one view per VM, changed only through
// `update`, which tells every listener (the page, the VM's shell sessions).
import type { PeerAddress } from "../net/peer-address.ts";
import type { VmRecord } from "../state/vm-records.ts";
import { Emitter } from "../util/emitter.ts";
import type { PaymentState } from "./vm-protocol.ts";
import type { WebCounters } from "./web-host.ts";

/**
 * "checking": the signed lease names a host, but this tab has not heard from it
 * yet (it just started or came back); the host's own report settles it.
 */
export type OwnedState =
  | "placing"
  | "checking"
  | "starting"
  | "running"
  | "moving"
  | "stopped"
  | "waiting"
  | "failed";

export interface OwnedVm {
  vmId: string;
  name: string;
  createdAt: number;
  /** The image it was made from, and its memory (its record's). */
  imageId: string;
  memoryBytes: number;
  /** What its disk held at its newest checkpoint, as its host said (null: not yet). */
  diskBytes: number | null;
  state: OwnedState;
  host: PeerAddress | null;
  epoch: number;
  detail: string;
  lastCheckpoint: { epoch: number; seq: number; createdAt: number; bytes: number } | null;
  /** When the host of `host`/`epoch` last reported the VM's state to this tab (null: not yet). */
  reportedAt: number | null;
  transfer: { direction: "in" | "out"; done: number; total: number } | null;
  /** How the current lease's payment stands, as its host (or this tab, out of credit) said. */
  payment: { epoch: number; state: PaymentState; reason: string; paidMilli: number } | null;
  /** Whether the host of lease `epoch` lets the guest reach the internet (as it said; null: not yet). */
  outbound: { epoch: number; allowed: boolean } | null;
  /** What its published ports served, summed over the leases this tab heard of (owner-traffic.ts). */
  web: WebCounters;
}

interface ViewEvents {
  /** Anything changed (the list, or any view). */
  change: () => void;
  /** One VM's view was updated. */
  update: (view: OwnedVm) => void;
}

export class OwnerViews {
  private readonly views = new Map<string, OwnedVm>();
  private readonly events = new Emitter<ViewEvents>();

  on<K extends keyof ViewEvents>(event: K, handler: ViewEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  list(): OwnedVm[] {
    return [...this.views.values()].sort((a, b) => a.createdAt - b.createdAt).map((v) => ({ ...v }));
  }

  get(vmId: string): OwnedVm | null {
    const v = this.views.get(vmId);
    return v ? { ...v } : null;
  }

  has(vmId: string): boolean {
    return this.views.has(vmId);
  }

  /** The view of `vm`, made (in `state`) if there is none yet. */
  ensure(vm: VmRecord, state: OwnedState): OwnedVm {
    let v = this.views.get(vm.vmId);
    if (!v) {
      v = {
        vmId: vm.vmId,
        name: vm.name,
        createdAt: vm.createdAt,
        imageId: vm.imageId,
        memoryBytes: vm.memoryBytes,
        diskBytes: null,
        state,
        host: null,
        epoch: 0,
        detail: "",
        lastCheckpoint: null,
        reportedAt: null,
        transfer: null,
        payment: null,
        outbound: null,
        web: { requests: 0, bytesIn: 0, bytesOut: 0 },
      };
      this.views.set(vm.vmId, v);
    }
    return v;
  }

  update(vmId: string, patch: Partial<OwnedVm>): void {
    const v = this.views.get(vmId);
    if (!v) return;
    Object.assign(v, patch);
    this.events.emit("update", { ...v });
    this.changed();
  }

  /** Changes a view without telling the shells (a refresh from the document; `changed` follows). */
  quietly(vmId: string, patch: Partial<OwnedVm>): void {
    const v = this.views.get(vmId);
    if (v) Object.assign(v, patch);
  }

  delete(vmId: string): boolean {
    return this.views.delete(vmId);
  }

  /** VMs being started or moved, by host (placement spreads new ones away from them). */
  pendingByHost(except: string): Map<PeerAddress, number> {
    const pending = new Map<PeerAddress, number>();
    for (const v of this.views.values()) {
      if (v.vmId !== except && v.host && (v.state === "starting" || v.state === "moving"))
        pending.set(v.host, (pending.get(v.host) ?? 0) + 1);
    }
    return pending;
  }

  changed(): void {
    this.events.emit("change");
  }

  clear(): void {
    this.events.clear();
  }
}
