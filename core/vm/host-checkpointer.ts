// A host's checkpoints of the VMs it runs: on an interval and on request, each
// sealed with the epoch's key, sent to the owner and the replicas its lease
// names, and recorded (signed by this host, in the document and to the owner's
// tab directly) once someone holds it. If nobody took it, the previous
// checkpoint stays the newest.
import type { Identity } from "../crypto/identity.ts";
import { type SignedEntry, signEntry } from "../crypto/signed.ts";
import type { MeshPort } from "../net/channels.ts";
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { Transfers } from "../net/transfer.ts";
import type { VmBook } from "../state/vm-book.ts";
import { CHECKPOINT_KIND, type CheckpointRecord } from "../state/vm-records.ts";
import { sha256Hex } from "../util/bytes.ts";
import type { Clock } from "../util/clock.ts";
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
  intervalMs: () => number;
  /** Tells the owner's tab the record of a checkpoint it holds (the document's copy may be deleted). */
  sendRecord: (to: PeerAddress, record: SignedEntry<CheckpointRecord>) => void;
  /** Whether `h` is still this host's current hosting of its VM. */
  isCurrent: (h: Hosting) => boolean;
  changed: () => void;
}

export class HostCheckpointer {
  constructor(private readonly o: HostCheckpointerOptions) {}

  /** Checkpoints `h` after the interval, and again after each one, while it runs here. */
  schedule(h: Hosting): void {
    const c = h.checkpoints;
    c.cancelTimer?.();
    c.cancelTimer = this.o.clock.after(this.o.intervalMs(), () => {
      c.cancelTimer = null;
      void this.now(h)
        .catch(() => {})
        .finally(() => {
          if (this.o.isCurrent(h) && h.view.state === "running") this.schedule(h);
        });
    });
  }

  cancel(h: Hosting): void {
    h.checkpoints.cancelTimer?.();
    h.checkpoints.cancelTimer = null;
  }

  /** Seals a checkpoint, sends it to the owner and a replica, and records it once someone holds it. */
  async now(h: Hosting): Promise<CheckpointRecord | null> {
    const c = h.checkpoints;
    if (!h.engine || h.view.state !== "running" || c.busy) return null;
    c.busy = true;
    try {
      const ref = { vmId: h.vm.vmId, epoch: h.lease.epoch, seq: c.seq + 1 };
      const packed = await h.engine.checkpoint(h.key, checkpointContext(ref.vmId, ref.epoch, ref.seq));
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
      h.view.lastCheckpoint = {
        seq: ref.seq,
        atMs: this.o.now(),
        bytes: record.bytes,
        saveMs: packed.saveMs,
        transferMs: this.o.now() - t0,
      };
      this.o.changed();
      return record;
    } finally {
      c.busy = false;
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
