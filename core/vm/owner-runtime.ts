// The owner's side of remote VMs: creates VMs (record and key), places them on
// contributors (placement-controller.ts), keeps the checkpoints their hosts send
// (owner-checkpoints.ts) and attaches shells from any tab (shell-sessions.ts).
// Only one tab of an owner manages placement at a time (the leader); the others
// read the document and attach shells.
import type { Identity } from "../crypto/identity.ts";
import { createVmKey, exportVmKey } from "../crypto/vm-crypto.ts";
import { standingOf } from "../ledger/standing.ts";
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { TransferProgress, Transfers } from "../net/transfer.ts";
import type { KeyValueStore } from "../state/storage.ts";
import type { VmBook } from "../state/vm-book.ts";
import type { Clock } from "../util/clock.ts";
import { parseCheckpointMeta } from "./checkpoint-protocol.ts";
import { LeaseBook } from "./lease-book.ts";
import { type OwnCredits, OwnerBilling } from "./owner-billing.ts";
import type { OwnerCheckpoints } from "./owner-checkpoints.ts";
import { OwnerTraffic } from "./owner-traffic.ts";
import { type OwnedState, type OwnedVm, OwnerViews } from "./owner-views.ts";
import type { HostCandidate } from "./placement.ts";
import { PlacementController } from "./placement-controller.ts";
import { type ShellHandlers, type ShellSession, ShellSessions } from "./shell-sessions.ts";
import { encodeVmMessage, parseVmMessage, VM_PROTOCOL, type VmMessage } from "./vm-protocol.ts";

export type { OwnedState, OwnedVm } from "./owner-views.ts";
export type { ShellHandlers, ShellSession } from "./shell-sessions.ts";

export interface OwnerRuntimeOptions {
  identity: Identity;
  mesh: MeshPort;
  book: VmBook;
  transfers: Transfers;
  clock: Clock;
  /** VM keys (never in the document), by VM id. */
  keys: KeyValueStore;
  /** The newest sealed checkpoints of this owner's VMs. */
  checkpoints: OwnerCheckpoints;
  /** Receipts and balances (the peer's CreditBook). */
  credits: OwnCredits;
  /** Contributors that could host, from verified presence. */
  candidates: () => Promise<HostCandidate[]>;
  /** A host's X25519 key (from its verified presence), to seal the VM key to. */
  boxKeyOf: (host: PeerAddress) => Promise<string | null>;
  imageId: string;
  memoryBytes: number;
  /** Whether this tab manages placement (one tab per owner). */
  isLeader: () => boolean;
  now?: () => number;
  tickMs?: number;
  /** How long a host may be unreachable before its VMs move. */
  graceMs?: number;
  linkTimeoutMs?: number;
  startTimeoutMs?: number;
}

export class OwnerRuntime {
  private readonly views = new OwnerViews();
  private readonly leases: LeaseBook;
  private readonly placement: PlacementController;
  private readonly shells: ShellSessions;
  private readonly billing: OwnerBilling;
  private readonly traffic = new OwnerTraffic();
  private readonly vmChannel: PeerChannel;
  private readonly off: (() => void)[] = [];
  private running = true;
  private readonly now: () => number;
  /** Peers whose link closed and has not opened again: no shell waits on them. */
  private readonly lostHosts = new Set<PeerAddress>();
  private refreshing = false;
  /** A change came in during a refresh: run once more after it. */
  private refreshAgain = false;

  constructor(private readonly o: OwnerRuntimeOptions) {
    const now = o.now ?? Date.now;
    this.now = now;
    this.leases = new LeaseBook(o.book, o.identity, now);
    o.checkpoints.useLeases({
      leaseOf: async (vmId, epoch) => (await this.leases.leaseOf(vmId, epoch))?.lease ?? null,
      currentLease: (vmId) => this.leases.currentLease(vmId),
    });
    this.vmChannel = o.mesh.channel(VM_PROTOCOL);
    const sendVm = (remote: PeerAddress, m: VmMessage) => this.vmChannel.send(remote, encodeVmMessage(m));
    this.shells = new ShellSessions({
      identity: o.identity,
      mesh: o.mesh,
      clock: o.clock,
      now,
      views: this.views,
      target: (vmId) => this.shellTarget(vmId),
      sendVm,
      linkTimeoutMs: o.linkTimeoutMs,
    });
    this.billing = new OwnerBilling({
      identity: o.identity,
      credits: o.credits,
      leases: this.leases,
      views: this.views,
      isLeader: o.isLeader,
      now,
      send: sendVm,
    });
    this.placement = new PlacementController({
      ...o,
      standing: async () => standingOf(await o.credits.ledger(), o.identity.peerId),
      now,
      leases: this.leases,
      views: this.views,
      sendVm,
      grant: (vmId, host) => this.shells.grant(vmId, host),
    });
    this.off.push(
      this.vmChannel.on("message", (remote, payload) => {
        const m = parseVmMessage(payload);
        if (m) this.onMessage(remote, m);
      }),
      o.book.observe(() => void this.refresh()),
      o.transfers.on("progress", (p) => this.onProgress(p)),
      o.checkpoints.onKept((vmId) => this.checkpointKept(vmId)),
      o.mesh.on("close", (peer) => {
        this.lostHosts.add(peer);
      }),
      o.mesh.on("open", (peer) => {
        // A host thought lost is back: shells waiting for it look again.
        if (this.lostHosts.delete(peer)) this.views.changed();
      }),
    );
    void this.refresh();
  }

  on(event: "change", handler: () => void): () => void {
    return this.views.on(event, handler);
  }

  dispose(): void {
    this.running = false;
    for (const off of this.off.splice(0)) off();
    this.placement.dispose();
    this.shells.dispose();
    this.views.clear();
  }

  list(): OwnedVm[] {
    return this.views.list();
  }

  get(vmId: string): OwnedVm | null {
    return this.views.get(vmId);
  }

  // ---- Creating and controlling VMs

  /** Creates a VM from `guest`'s image with its memory (default: the options' image and memory). */
  async create(name: string, guest?: { imageId: string; memoryBytes: number }): Promise<string> {
    const id = await this.leases.newId();
    // The key is stored before anything else exists: no VM without its key.
    await this.o.keys.set(id.vmId, await exportVmKey(await createVmKey()));
    const record = await this.leases.create(
      id,
      name,
      guest?.imageId ?? this.o.imageId,
      guest?.memoryBytes ?? this.o.memoryBytes,
    );
    this.views.ensure(record, "placing");
    this.views.changed();
    void this.placement.place(id.vmId, "start", new Set());
    return id.vmId;
  }

  async start(vmId: string): Promise<void> {
    await this.placement.place(vmId, "start", new Set());
  }

  /** Stops the VM after a last checkpoint; its state stays with its owner and replicas. */
  async stop(vmId: string): Promise<void> {
    const current = await this.leases.currentLease(vmId);
    if (current?.host) await this.placement.flush(vmId, current.host);
    await this.leases.writeLease(vmId, null);
    this.views.update(vmId, { state: "stopped", host: null, detail: "stopped by you" });
  }

  /** Moves the VM to another contributor (after a last checkpoint). */
  async move(vmId: string): Promise<void> {
    const current = await this.leases.currentLease(vmId);
    if (current?.host) await this.placement.flush(vmId, current.host);
    await this.placement.place(vmId, "move", new Set(current?.host ? [current.host] : []));
  }

  async remove(vmId: string): Promise<void> {
    const vm = await this.leases.mine(vmId);
    if (!vm) return;
    await this.leases.writeLease(vmId, null);
    await this.leases.markDeleted(vm.vm);
    await this.o.checkpoints.remove(vmId);
    await this.o.keys.delete(vmId);
    this.views.delete(vmId);
    this.traffic.forget(vmId);
    this.views.changed();
  }

  /** The newest sealed checkpoint this tab holds (what "download" saves). */
  async sealedSnapshot(vmId: string): Promise<{ bytes: Uint8Array; epoch: number; seq: number } | null> {
    const newest = await this.o.checkpoints.newest(vmId);
    return newest ? { bytes: newest.sealed, epoch: newest.epoch, seq: newest.seq } : null;
  }

  /** Attaches a console to the VM on whichever host runs it, and follows it when it moves. */
  attach(vmId: string, handlers: ShellHandlers): ShellSession {
    return this.shells.attach(vmId, handlers);
  }

  /**
   * Where a shell should attach: the current lease's host, unless its link closed
   * (the keepalive found it silent): then none until the VM moves or the link is
   * back, so typing waits for the next host instead of for a dead one's link.
   */
  private async shellTarget(vmId: string): Promise<PeerAddress | null> {
    const host = (await this.leases.currentLease(vmId))?.host ?? null;
    return host && this.lostHosts.has(host) ? null : host;
  }

  /** A checkpoint of one of this owner's VMs was kept: it is no longer in flight. */
  private checkpointKept(vmId: string): void {
    this.views.update(vmId, { transfer: null });
    void this.refresh();
  }

  // ---- Messages

  private onMessage(remote: PeerAddress, m: VmMessage): void {
    switch (m.t) {
      case "status": {
        this.placement.status(remote, m.vmId, m.epoch, { state: m.state, code: m.code, detail: m.detail });
        const v = this.views.get(m.vmId);
        // What the lease's host allows its guest, even while the placement is still waiting on it.
        const said = v?.outbound;
        if (
          v?.host === remote &&
          v.epoch === m.epoch &&
          (said?.epoch !== m.epoch || said.allowed !== m.outbound)
        )
          this.views.update(m.vmId, { outbound: { epoch: m.epoch, allowed: m.outbound } });
        const leaseHost = v && (v.host === remote || v.state === "waiting");
        // The current lease's host no longer runs it (it gave the slot up, or was asked after a
        // refusal): place it again; it restores from its newest checkpoint, or waits for room or credit.
        if (
          m.state === "stopped" &&
          v &&
          leaseHost &&
          v.epoch === m.epoch &&
          !this.placement.isPlacing(m.vmId)
        ) {
          void this.leases.currentLease(m.vmId).then((lease) => {
            if (lease?.host === remote && lease.epoch === m.epoch && this.o.isLeader())
              this.placement.failover(m.vmId, remote, m.detail || "its host stopped it");
          });
          return;
        }
        if (v && v.host === remote && v.epoch === m.epoch && !this.placement.isPlacing(m.vmId)) {
          const state: OwnedState =
            m.state === "running" ? "running" : m.state === "restoring" ? "starting" : v.state;
          // The host of the current lease said so: this is what the page shows.
          this.views.update(m.vmId, {
            state,
            detail: m.detail || v.detail,
            reportedAt: this.now(),
            ...(m.diskBytes !== undefined && { diskBytes: m.diskBytes }),
          });
        }
        return;
      }
      case "attached":
        this.shells.attached(remote, m.vmId, m.transcript);
        return;
      case "checkpoint":
        // Checked against the lease of its epoch and the bytes this tab holds.
        void this.o.checkpoints.record(m.record);
        return;
      case "meter":
        this.billing.meter(remote, m);
        void this.noteTraffic(remote, m);
        return;
      case "payment":
        this.billing.payment(remote, m);
        return;
      case "leaving":
        for (const vmId of m.vmIds) {
          if (this.views.get(vmId)?.host === remote && this.o.isLeader())
            this.placement.failover(vmId, remote, m.reason ?? "the host is closing");
        }
        return;
      default:
        return;
    }
  }

  /** A host's word on what the VM served in its lease counts only from the host that lease names. */
  private async noteTraffic(remote: PeerAddress, m: Extract<VmMessage, { t: "meter" }>): Promise<void> {
    const v = this.views.get(m.vmId);
    if (!v) return;
    // The current lease's host, or (a last report after a move) the host of one of the few before it.
    const recent = m.epoch < v.epoch && m.epoch >= v.epoch - 3;
    const fromItsHost =
      (v.host === remote && v.epoch === m.epoch) ||
      (recent && (await this.leases.leaseOf(m.vmId, m.epoch))?.lease.host === remote);
    const was = this.views.get(m.vmId)?.web;
    if (!fromItsHost || !was) return;
    const web = this.traffic.note(m.vmId, m.epoch, m.web);
    if (web.requests === was.requests && web.bytesIn === was.bytesIn && web.bytesOut === was.bytesOut) return;
    // Only the page shows it: the VM's shells need not hear of it.
    this.views.quietly(m.vmId, { web });
    this.views.changed();
  }

  private onProgress(p: TransferProgress): void {
    const meta = parseCheckpointMeta(p.meta);
    if (!meta || !this.views.has(meta.vmId)) return;
    const done = p.done >= p.total;
    this.views.update(meta.vmId, {
      transfer: done ? null : { direction: p.direction, done: p.done, total: p.total },
    });
  }

  // ---- Views from the document

  /** Brings the views in line with the document (records, leases, checkpoint records). */
  private async refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    try {
      await this.leases.refresh();
      for (const { vm } of await this.leases.all()) {
        if (vm.deleted) {
          if (this.views.delete(vm.vmId)) this.views.changed();
          continue;
        }
        const v = this.views.ensure(vm, "placing");
        this.views.quietly(vm.vmId, { name: vm.name });
        const lease = await this.leases.currentLease(vm.vmId);
        if (lease && !this.placement.isPlacing(vm.vmId)) {
          if (lease.host === null)
            this.views.quietly(vm.vmId, { state: "stopped", host: null, epoch: lease.epoch });
          else if (lease.epoch > v.epoch)
            // Signed: where it runs. Not yet known: how; its host is asked (placement-controller.ts).
            this.views.quietly(vm.vmId, {
              host: lease.host,
              epoch: lease.epoch,
              state: "checking",
              reportedAt: null,
              detail: "asking its host",
            });
        }
        const latest = await this.o.book.latestCheckpoint(vm.vmId, this.leases.owner);
        if (latest) {
          const r = latest.record;
          this.views.quietly(vm.vmId, {
            lastCheckpoint: { epoch: r.epoch, seq: r.seq, createdAt: r.createdAt, bytes: r.bytes },
          });
          await this.o.checkpoints.pair(vm.vmId, latest);
        }
      }
      this.views.changed();
    } finally {
      this.refreshing = false;
      if (this.refreshAgain && this.running) {
        this.refreshAgain = false;
        void this.refresh();
      }
    }
  }
}
