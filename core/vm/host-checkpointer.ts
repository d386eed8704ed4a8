// A host's checkpoints of the VMs it runs: soon after the guest's activity
// settles, at least every few seconds while it goes on, on a slow interval while
// idle, and on request; paced so they take at most a tenth of the VM's CPU
// budget (checkpoint-pacing.ts). Each is sealed with the epoch's key, sent to the
// owner and the replicas its lease names, and recorded (signed by this host, in
// the document and to the owner's tab directly) once someone holds it: only then
// does it count. If nobody took it, the previous checkpoint stays the newest.
import type { Identity } from "../crypto/identity.ts";
import { type SignedEntry, signEntry } from "../crypto/signed.ts";
import type { MeshPort } from "../net/channels.ts";
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { Transfers } from "../net/transfer.ts";
import type { VmBook } from "../state/vm-book.ts";
import { CHECKPOINT_KIND, type CheckpointRecord } from "../state/vm-records.ts";
import { sha256Hex } from "../util/bytes.ts";
import type { Clock } from "../util/clock.ts";
import {
  type CheckpointPolicy,
  DEFAULT_POLICY,
  newPacing,
  nextDueMs,
  noteActivity,
  noteEnd,
  noteStart,
  overheadPct,
} from "./checkpoint-pacing.ts";
import { checkpointMeta } from "./checkpoint-protocol.ts";
import { checkpointContext } from "./engine.ts";
import type { Hosting } from "./hosting.ts";

export interface HostCheckpointerOptions {
  identity: Identity;
  mesh: MeshPort;
  book: VmBook;
  transfers: Transfers;
  clock: Clock;
  now: () => number;
  /** With no activity, how often to checkpoint. */
  intervalMs: () => number;
  /** The VM's CPU budget now, in % of a core (checkpoints get a tenth of it at most). */
  budgetPct: () => number;
  /** Settle time, busy interval and overhead cap, if not the defaults. */
  policy?: Partial<Omit<CheckpointPolicy, "idleEveryMs">>;
  /** Tells the owner's tab the record of a checkpoint it holds (the document's copy may be deleted). */
  sendRecord: (to: PeerAddress, record: SignedEntry<CheckpointRecord>) => void;
  /** Whether `h` is still this host's current hosting of its VM. */
  isCurrent: (h: Hosting) => boolean;
  changed: () => void;
}

export class HostCheckpointer {
  constructor(private readonly o: HostCheckpointerOptions) {}

  private policy(): CheckpointPolicy {
    return { ...DEFAULT_POLICY, ...this.o.policy, idleEveryMs: this.o.intervalMs() };
  }

  /** `h` runs here from now on: checkpoint it as it goes. */
  schedule(h: Hosting): void {
    h.checkpoints.pacing = newPacing(this.o.clock.nowMs());
    this.plan(h);
  }

  /** The guest did something (console bytes in or out): a checkpoint is due once it settles. */
  activity(h: Hosting): void {
    noteActivity(h.checkpoints.pacing, this.o.clock.nowMs());
    this.plan(h);
  }

  cancel(h: Hosting): void {
    const c = h.checkpoints;
    c.cancelTimer?.();
    c.cancelTimer = null;
    c.timerDueMs = null;
  }

  /** Sets the timer for the next checkpoint, unless one that fires no later is set (it looks again). */
  private plan(h: Hosting): void {
    const c = h.checkpoints;
    if (!this.o.isCurrent(h) || h.view.state !== "running" || c.busy) return;
    const due = nextDueMs(c.pacing, this.policy(), this.o.budgetPct());
    if (c.timerDueMs !== null && c.timerDueMs <= due) return;
    this.cancel(h);
    c.timerDueMs = due;
    c.cancelTimer = this.o.clock.after(Math.max(0, due - this.o.clock.nowMs()), () => {
      c.cancelTimer = null;
      c.timerDueMs = null;
      if (nextDueMs(c.pacing, this.policy(), this.o.budgetPct()) > this.o.clock.nowMs()) {
        this.plan(h); // still busy, or the guest did more since: later
        return;
      }
      void this.now(h).catch(() => {});
    });
  }

  /** Seals a checkpoint, sends it to the owner and a replica, and records it once someone holds it. */
  async now(h: Hosting): Promise<CheckpointRecord | null> {
    const c = h.checkpoints;
    if (!h.engine || h.view.state !== "running" || c.busy) return null;
    c.busy = true;
    this.cancel(h);
    const startMs = this.o.clock.nowMs();
    const dirtyBefore = noteStart(c.pacing, startMs);
    let costMs = 0;
    let held = false;
    try {
      const ref = { vmId: h.vm.vmId, epoch: h.lease.epoch, seq: c.seq + 1 };
      const packed = await h.engine.checkpoint(h.key, checkpointContext(ref.vmId, ref.epoch, ref.seq));
      costMs = packed.saveMs + packed.packMs;
      if (!this.o.isCurrent(h)) return null;
      const sha256 = await sha256Hex(packed.sealed);
      const targets = this.holdersFor(h);
      const t0 = this.o.now();
      const results = await Promise.allSettled(
        targets.map((to) => this.o.transfers.send(to, checkpointMeta(ref, sha256), packed.sealed)),
      );
      const holders = targets.filter((_, i) => results[i]!.status === "fulfilled");
      if (holders.length === 0 || !this.o.isCurrent(h)) return null;
      const record: CheckpointRecord = {
        ...ref,
        sha256,
        bytes: packed.sealed.length,
        rawBytes: packed.rawBytes,
        host: this.o.mesh.self,
        holders,
        createdAt: this.o.now(),
        previous: c.previous,
      };
      const entry = await signEntry(this.o.identity, CHECKPOINT_KIND, record);
      await this.o.book.publishCheckpoint(entry);
      for (const to of holders) if (peerIdOf(to) === h.vm.owner) this.o.sendRecord(to, entry);
      c.seq = ref.seq;
      c.previous = { epoch: ref.epoch, seq: ref.seq, sha256, bytes: record.bytes };
      held = true;
      noteEnd(c.pacing, { startMs, costMs, held, dirtyBefore });
      h.view.lastCheckpoint = {
        seq: ref.seq,
        atMs: this.o.now(),
        bytes: record.bytes,
        saveMs: packed.saveMs,
        transferMs: this.o.now() - t0,
        overheadPct: Math.round(10 * overheadPct(c.pacing, this.o.clock.nowMs(), this.o.budgetPct())) / 10,
      };
      this.o.changed();
      return record;
    } finally {
      if (!held) noteEnd(c.pacing, { startMs, costMs, held, dirtyBefore });
      c.busy = false;
      this.plan(h); // the next one, whoever asked for this one
    }
  }

  /** The owner's tab that asked (or another of the owner's tabs), and the replicas the lease names. */
  private holdersFor(h: Hosting): PeerAddress[] {
    const open = this.o.mesh.openLinks();
    const owners = open.filter((p) => peerIdOf(p) === h.vm.owner);
    const preferred = owners.includes(h.requester) ? [h.requester] : owners.slice(0, 1);
    const replicas = h.lease.replicas.filter((p) => open.includes(p) && !preferred.includes(p));
    return [...preferred, ...replicas];
  }
}
