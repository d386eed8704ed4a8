// Booting a hosted VM: from the first checkpoint whose record is genuine, whose
// bytes some holder sends intact, and which opens with the epoch's key; from the
// image only when there is no checkpoint at all. Never from the image when the
// owner holds checkpoints: that would silently throw its files away.
import type { SignedEntry } from "../crypto/signed.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { VmBook } from "../state/vm-book.ts";
import type { CheckpointRecord } from "../state/vm-records.ts";
import { sha256Hex } from "../util/bytes.ts";
import { errorMessage } from "../util/errors.ts";
import type { CheckpointExchange } from "./checkpoint-exchange.ts";
import { checkpointContext, type VmEngine } from "./engine.ts";
import type { Hosting } from "./hosting.ts";
import type { ReplicaStore } from "./replica-store.ts";

/** No checkpoint that was offered could be restored (and none is ever skipped for the image). */
export class NoRestorableCheckpoint extends Error {}

export interface BootOptions {
  self: PeerAddress;
  book: VmBook;
  exchange: CheckpointExchange;
  replicas: ReplicaStore;
  createEngine: () => VmEngine;
  budgetPct: number;
  /** Whether the guest may reach the internet through this host (HostSettings.outboundAllowed). */
  outbound: boolean;
  onOutput: (bytes: Uint8Array) => void;
  /** Whether the link to `peer` is still needed once a fetch from it is over. */
  keepLink: (peer: PeerAddress) => boolean;
}

/** Starts `h`'s engine; resolves with what went wrong on the way (empty if nothing did). */
export async function bootHosted(
  h: Hosting,
  restore: SignedEntry<CheckpointRecord>[],
  o: BootOptions,
): Promise<string> {
  const problems: string[] = [];
  for (const entry of restore) {
    const checked = await o.book.checkCheckpoint(
      entry,
      h.vm.vmId,
      h.vm.owner,
      (epoch) => h.leases.get(epoch) ?? null,
    );
    if (!checked) {
      problems.push("a checkpoint record whose signature does not hold");
      continue;
    }
    const r = checked.record;
    // This epoch's key, or the older epoch's the owner handed over for it; never a later one.
    const key = r.epoch === h.lease.epoch ? h.key : h.restoreKeys.get(r.epoch);
    if (!key || r.epoch > h.lease.epoch) {
      problems.push(`checkpoint ${r.epoch}.${r.seq}: refused, the owner sent no key for it`);
      continue;
    }
    const sealed = await fetchSealed(r, h.requester, o);
    if (!sealed) {
      problems.push(`checkpoint ${r.epoch}.${r.seq}: refused, no holder sent bytes that match its record`);
      continue;
    }
    const engine = o.createEngine();
    h.engine = engine;
    try {
      await engine.start({
        imageId: h.vm.imageId,
        vmId: h.vm.vmId,
        memoryBytes: h.vm.memoryBytes,
        sealed: { bytes: sealed, key, context: checkpointContext(h.vm.vmId, r.epoch, r.seq) },
        budgetPct: o.budgetPct,
        outbound: o.outbound,
        onOutput: o.onOutput,
      });
      h.checkpoints.previous = { epoch: r.epoch, seq: r.seq, sha256: r.sha256, bytes: r.bytes };
      return problems.join("; ");
    } catch (err) {
      await engine.stop().catch(() => {});
      h.engine = null;
      problems.push(`checkpoint ${r.epoch}.${r.seq}: refused (${errorMessage(err)})`);
    }
  }
  if (restore.length > 0)
    throw new NoRestorableCheckpoint(`no checkpoint could be restored: ${problems.join("; ")}`);
  const engine = o.createEngine();
  h.engine = engine;
  await engine.start({
    imageId: h.vm.imageId,
    vmId: h.vm.vmId,
    memoryBytes: h.vm.memoryBytes,
    sealed: null,
    budgetPct: o.budgetPct,
    outbound: o.outbound,
    onOutput: o.onOutput,
  });
  return "";
}

/** A checkpoint's sealed bytes from this peer's replicas, the owner or the holders: the first that match. */
async function fetchSealed(
  r: CheckpointRecord,
  owner: PeerAddress,
  o: BootOptions,
): Promise<Uint8Array | null> {
  const local = await o.replicas.load(r);
  if (local && (await sha256Hex(local)) === r.sha256) return local;
  const sources = [...new Set([owner, ...r.holders])].filter((p) => p !== o.self);
  for (const from of sources) {
    const bytes = await o.exchange.fetch(from, r, () => o.keepLink(from));
    // A holder that sends other bytes (tampered or corrupt) is passed over.
    if (bytes && (await sha256Hex(bytes)) === r.sha256) return bytes;
  }
  return null;
}
