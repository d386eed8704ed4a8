// One place per peer where sealed checkpoints change hands: it answers fetches
// from whatever this peer keeps (the owner's own copies, replicas for others),
// only for the VM's owner and its current host; fetches from holders for a host
// that is restoring; and decides which offered checkpoint transfers to take and
// who keeps them. Both runtimes use it, so the
// rules for serving, fetching and accepting are written once.
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import { whenOpen } from "../net/link-wait.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { TransferOffer, Transfers } from "../net/transfer.ts";
import { sha256Hex } from "../util/bytes.ts";
import type { Clock } from "../util/clock.ts";
import { Waiters } from "../util/waiters.ts";
import {
  CHECKPOINT_PROTOCOL,
  type CheckpointMessage,
  type CheckpointMeta,
  type CheckpointRef,
  checkpointMeta,
  encodeCheckpointMessage,
  parseCheckpointMessage,
  parseCheckpointMeta,
  refKey,
} from "./checkpoint-protocol.ts";

/** Something on this peer that keeps sealed checkpoints (the owner's store, the replica store). */
export interface CheckpointKeeper {
  /** Whether to take this checkpoint from `remote` when it is offered. */
  wants(remote: PeerAddress, meta: CheckpointMeta): Promise<boolean>;
  keep(remote: PeerAddress, meta: CheckpointMeta, sealed: Uint8Array): Promise<void>;
  /** The sealed bytes of `ref`, if this keeper holds them. */
  load(ref: CheckpointRef): Promise<Uint8Array | null>;
  /** Whether `remote` may have what this keeper holds of `ref`'s VM (its owner's tabs, its current host). */
  mayServe(remote: PeerAddress, ref: CheckpointRef): Promise<boolean>;
}

export interface CheckpointExchangeOptions {
  mesh: MeshPort;
  transfers: Transfers;
  clock: Clock;
  keepers: CheckpointKeeper[];
  /** How long a holder may take to send what was asked. */
  fetchTimeoutMs?: number;
  /** How long to wait for a link to a holder. */
  linkTimeoutMs?: number;
}

export class CheckpointExchange {
  private readonly channel: PeerChannel;
  private readonly fetches: Waiters<Uint8Array>;
  private readonly off: (() => void)[];

  constructor(private readonly o: CheckpointExchangeOptions) {
    this.channel = o.mesh.channel(CHECKPOINT_PROTOCOL);
    this.fetches = new Waiters(o.clock);
    this.off = [
      this.channel.on("message", (remote, payload) => {
        const m = parseCheckpointMessage(payload);
        if (m) this.onMessage(remote, m);
      }),
      o.mesh.on("close", (remote) => this.fetches.dropFrom(remote)),
      o.transfers.on("received", (remote, offer, bytes) => void this.onReceived(remote, offer, bytes)),
    ];
  }

  dispose(): void {
    for (const off of this.off.splice(0)) off();
    this.fetches.clear();
  }

  /** Whether to take an offered transfer: a fetch this peer waits for, or one a keeper wants. */
  async accept(remote: PeerAddress, offer: TransferOffer): Promise<boolean> {
    const meta = parseCheckpointMeta(offer.meta);
    if (!meta || meta.sha256 !== offer.sha256) return false;
    if (this.fetches.expects(refKey(meta), remote)) return true;
    for (const keeper of this.o.keepers) if (await keeper.wants(remote, meta)) return true;
    return false;
  }

  /**
   * Asks `from` for the sealed bytes of `ref`; null if it has none, is unreachable or
   * too slow. The link is kept for the fetch and let go after unless `keepLink()`.
   */
  async fetch(from: PeerAddress, ref: CheckpointRef, keepLink: () => boolean): Promise<Uint8Array | null> {
    const { mesh, clock } = this.o;
    mesh.pin(from);
    try {
      if (!(await whenOpen(mesh, from, clock, this.o.linkTimeoutMs ?? 8000))) return null;
      const answer = this.fetches.wait(refKey(ref), from, this.o.fetchTimeoutMs ?? 30_000);
      this.send(from, { t: "fetch", ...ref });
      return await answer;
    } finally {
      if (!keepLink()) mesh.unpin(from);
    }
  }

  private send(remote: PeerAddress, m: CheckpointMessage): void {
    this.channel.send(remote, encodeCheckpointMessage(m));
  }

  private onMessage(remote: PeerAddress, m: CheckpointMessage): void {
    const ref = { vmId: m.vmId, epoch: m.epoch, seq: m.seq };
    if (m.t === "missing") this.fetches.settle(refKey(ref), remote, null);
    else void this.serve(remote, ref);
  }

  private async serve(remote: PeerAddress, ref: CheckpointRef): Promise<void> {
    for (const keeper of this.o.keepers) {
      const sealed = await keeper.load(ref);
      // Anyone may ask; only the VM's owner and its current host are answered with bytes.
      if (!sealed || !(await keeper.mayServe(remote, ref))) continue;
      await this.o.transfers
        .send(remote, checkpointMeta(ref, await sha256Hex(sealed)), sealed)
        .catch(() => {});
      return;
    }
    this.send(remote, { t: "missing", ...ref });
  }

  private async onReceived(remote: PeerAddress, offer: TransferOffer, bytes: Uint8Array): Promise<void> {
    const meta = parseCheckpointMeta(offer.meta);
    if (!meta) return;
    if (this.fetches.settle(refKey(meta), remote, bytes)) return;
    for (const keeper of this.o.keepers) {
      if (!(await keeper.wants(remote, meta))) continue;
      await keeper.keep(remote, meta, bytes);
      return;
    }
  }
}
