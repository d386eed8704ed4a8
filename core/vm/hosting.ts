// What a host knows about each VM it runs: the signed facts it was started
// under, the engine, who may use its console, and where its checkpoints stand.
import type { PeerAddress } from "../net/peer-address.ts";
import type { CheckpointSummary, Lease, VmRecord } from "../state/vm-records.ts";
import type { PacingState } from "./checkpoint-pacing.ts";
import type { VmEngine } from "./engine.ts";
import type { PaymentView } from "./host-billing.ts";
import type { HostedState } from "./vm-protocol.ts";

export interface HostSettings {
  slots: number;
  memoryMiB: number;
  budgetPct: number;
  checkpointIntervalMs: number;
  /**
   * How long an owner's receipts may stay behind the meter before its VM is
   * slowed down, and as long again before it is paused (default 30 s).
   */
  paymentGraceMs?: number;
  /** How often each VM's meter is read and sent to its owner (default 3 s). */
  meterIntervalMs?: number;
  /**
   * Whether the VMs this host starts may reach the internet (HTTP through this
   * peer's `fetch`, so from its address). Off unless true: a stranger's traffic
   * would leave from the contributor's address.
   */
  outboundAllowed?: boolean;
  /** What this peer sends for its VMs (web answers, VM-to-VM frames), in KiB/s; null or absent: unlimited. */
  bandwidthCapKiBps?: number | null;
}

/** What the Contribute page shows of a hosted VM. */
export interface HostedVm {
  vmId: string;
  owner: string;
  name: string;
  epoch: number;
  state: HostedState;
  detail: string;
  startedAtMs: number;
  lastCheckpoint: {
    seq: number;
    atMs: number;
    bytes: number;
    saveMs: number;
    transferMs: number;
    /** What checkpoints took of the VM's CPU budget over the last minute, in %. */
    overheadPct: number;
  } | null;
  /** How the lease's payment stands (null until the VM runs). */
  payment: PaymentView | null;
  /** Whether its guest may reach the internet through this host (fixed when it starts here). */
  outbound: boolean;
  /** What its disk held at its newest checkpoint (null: not known yet). */
  diskBytes: number | null;
}

/** Where a hosted VM's checkpoints stand. */
export interface CheckpointState {
  /** The number of the newest one made in this epoch (0: none yet). */
  seq: number;
  /** The newest one, made here or restored from; the next one names it. */
  previous: CheckpointSummary | null;
  cancelTimer: (() => void) | null;
  /** When the pending timer fires (clock ms), if there is one. */
  timerDueMs: number | null;
  busy: boolean;
  /** When the next one is due: activity, cost and failures so far. */
  pacing: PacingState;
}

export interface Hosting {
  view: HostedVm;
  vm: VmRecord;
  lease: Lease;
  /** This epoch's key: it seals the checkpoints made here. */
  key: CryptoKey;
  /** Keys of older epochs the owner handed over, to restore a checkpoint made in one of them. */
  restoreKeys: Map<number, CryptoKey>;
  /** The owner's leases handed over with the start (by epoch), to check checkpoint records against. */
  leases: Map<number, Lease>;
  engine: VmEngine | null;
  /** The owner's tab that asked for the VM. */
  requester: PeerAddress;
  /** Tabs the owner granted the console. */
  viewers: Set<PeerAddress>;
  checkpoints: CheckpointState;
}
