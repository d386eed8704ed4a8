// Where the owner's VMs run: picks a contributor, signs the lease, hands the
// host the VM key sealed to it and waits until the VM runs there; watches the
// hosts and moves a VM (epoch + 1) when its host goes away. Only the tab that
// leads for this owner places; the others follow the document.
import type { SignedEntry } from "../crypto/signed.ts";
import { exportVmKey, type SealedBox, sealTo } from "../crypto/vm-crypto.ts";
import type { Standing } from "../ledger/standing.ts";
import type { MeshPort } from "../net/channels.ts";
import { whenOpen } from "../net/link-wait.ts";
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { KeyValueStore } from "../state/storage.ts";
import type { CheckpointRecord, Lease, VmRecord } from "../state/vm-records.ts";
import type { Clock } from "../util/clock.ts";
import { restoreKeyContext, vmKeyContext } from "./engine.ts";
import type { LeaseBook } from "./lease-book.ts";
import type { OwnerCheckpoints } from "./owner-checkpoints.ts";
import type { OwnerViews } from "./owner-views.ts";
import { type HostCandidate, rankHosts } from "./placement.ts";
import { VmKeys } from "./vm-keys.ts";
import type { HostedState, HostRefusal, VmMessage } from "./vm-protocol.ts";

export interface PlacementOptions {
  mesh: MeshPort;
  leases: LeaseBook;
  views: OwnerViews;
  checkpoints: OwnerCheckpoints;
  clock: Clock;
  now: () => number;
  /** VM keys (never in the document), by VM id. */
  keys: KeyValueStore;
  /** Contributors that could host, from verified presence. */
  candidates: () => Promise<HostCandidate[]>;
  /** A host's X25519 key (from its verified presence), to seal the VM key to. */
  boxKeyOf: (host: PeerAddress) => Promise<string | null>;
  isLeader: () => boolean;
  sendVm: (remote: PeerAddress, message: VmMessage) => boolean;
  /** This owner's standing in the ledger: no VM is placed without credit. */
  standing: () => Promise<Standing>;
  /** Asks a host for this tab's console (and so for the VM's state). */
  grant: (vmId: string, host: PeerAddress) => Promise<void>;
  tickMs?: number;
  /** How long after its link closed (the keepalive found it silent) a host's VMs move. */
  graceMs?: number;
  linkTimeoutMs?: number;
  startTimeoutMs?: number;
}

export type PlaceReason = "start" | "move" | "failover";

interface Outcome {
  state: HostedState;
  code: HostRefusal | null;
  detail: string;
}

interface StatusWaiter {
  host: PeerAddress;
  done: (outcome: Outcome) => void;
}

/** How many hosts one placement tries before it waits for room. */
const ATTEMPTS = 6;
/** How many checkpoints a host is offered to restore from, newest first. */
const RESTORE_CHOICES = 3;
/** How long a stop or a move waits for the host's last checkpoint. */
const FLUSH_TIMEOUT_MS = 20_000;
/** How long after this tab starts a host's absence counts as "while you were offline". */
const CAME_BACK_MS = 30_000;
/** How long after its link closed a host's VMs move, by default (the keepalive already waited 1.5 s). */
const GRACE_MS = 500;
/** How often this tab asks a host it has not heard from how its VM is. */
const ASK_EVERY_MS = 2000;

export class PlacementController {
  private readonly placing = new Set<string>();
  /** When each VM's host was last seen linked to this tab (set while linked, and as its link closes). */
  private readonly lastSeen = new Map<string, number>();
  /** When this tab last asked each VM's host how the VM is. */
  private readonly askedAt = new Map<string, number>();
  private readonly statusWaiters = new Map<string, StatusWaiter>();
  private readonly startedAtMs: number;
  private cancelTick: (() => void) | null = null;
  private readonly cancelChecks = new Set<() => void>();
  private running = true;
  private ticking: Promise<void> | null = null;
  private readonly keys: VmKeys;
  private readonly offClose: () => void;

  constructor(private readonly o: PlacementOptions) {
    this.startedAtMs = o.now();
    this.keys = new VmKeys(o.keys);
    // A host's link closing is the news: look again once the grace is over, not at the next tick.
    this.offClose = o.mesh.on("close", (peer) => this.linkClosed(peer));
    this.scheduleTick();
  }

  dispose(): void {
    this.running = false;
    this.cancelTick?.();
    this.offClose();
    for (const cancel of this.cancelChecks) cancel();
    this.cancelChecks.clear();
  }

  isPlacing(vmId: string): boolean {
    return this.placing.has(vmId);
  }

  /** A host said how a VM is: the placement waiting on it learns first. */
  status(remote: PeerAddress, vmId: string, epoch: number, outcome: Outcome): void {
    const waiter = this.statusWaiters.get(`${vmId}/${epoch}`);
    if (waiter?.host === remote) waiter.done(outcome);
  }

  /** Picks a host, signs a lease, hands over the key and waits until the VM runs there. */
  async place(vmId: string, reason: PlaceReason, exclude: Set<PeerAddress>): Promise<void> {
    const { views, leases, mesh } = this.o;
    if (this.placing.has(vmId) || !this.o.isLeader()) return;
    this.placing.add(vmId);
    try {
      const vm = await leases.mine(vmId);
      if (!vm || vm.vm.deleted) return;
      views.ensure(vm.vm, "placing");
      if (!(await this.keys.has(vmId))) {
        views.update(vmId, {
          state: "failed",
          detail: "this device does not hold the VM's key (import your identity file)",
        });
        return;
      }
      // A VM that has checkpoints never boots from the image: if this tab holds some but
      // none it can vouch for (no record yet), it waits rather than start the VM empty.
      const restore = await this.restoreList(vmId);
      if (restore.length === 0 && (await this.o.checkpoints.list(vmId)).length > 0) {
        views.update(vmId, {
          state: "waiting",
          host: null,
          detail: "waiting for the record of its newest checkpoint; not starting it empty",
        });
        return;
      }
      // Hosts refuse an owner without credit: say so here, and try again on the next tick.
      const standing = await this.o.standing();
      if (!standing.admit) {
        views.update(vmId, {
          state: "waiting",
          detail:
            standing.code === "cheater"
              ? "Hosts refuse this identity: a proof of cheating is held against it (see Credits)."
              : "You have no credit left: contribute to earn some, or earn the starting allowance on the Credits page. The VM (and its files) waits until then.",
        });
        return;
      }
      // After a move, the explanation (why, and from which checkpoint) stays visible.
      const why = reason === "failover" ? (views.get(vmId)?.detail ?? "") : "";
      for (const p of mesh.openLinks()) if (peerIdOf(p) === leases.owner) exclude.add(p);
      exclude.add(mesh.self);
      let refused = "";
      for (let attempt = 0; attempt < ATTEMPTS && this.running; attempt++) {
        const request = { vmId, memoryBytes: vm.vm.memoryBytes, exclude, pending: views.pendingByHost(vmId) };
        const candidates = await this.o.candidates();
        // No host with room: a full one may still give this owner a slot (host-runtime.ts yieldSlotTo).
        let offers = rankHosts(request, candidates);
        if (offers.length === 0) offers = rankHosts({ ...request, full: true }, candidates);
        const host = offers[0]?.host;
        if (!host) {
          // The last refusal says what to do (contribute, or wait for room).
          const detail = refused
            ? `no contributor took it; ${refused}`
            : "waiting for a contributor with room";
          views.update(vmId, { state: "waiting", host: null, detail });
          return;
        }
        const replicas = this.replicasFor(host, candidates);
        const signed = await leases.writeLease(vmId, host, replicas);
        this.lastSeen.set(vmId, this.o.now());
        views.update(vmId, {
          state: reason === "start" ? "starting" : "moving",
          host,
          epoch: signed.lease.epoch,
          reportedAt: null,
          detail: why,
        });
        const record = leases.signedRecord(vmId) ?? vm.entry;
        const outcome = await this.handOver(vm.vm, record, signed, restore, host);
        if (outcome.state === "running") {
          views.update(vmId, {
            state: "running",
            reportedAt: this.o.now(),
            host,
            detail: [why, outcome.detail].filter(Boolean).join("; "),
          });
          return;
        }
        exclude.add(host);
        refused = `${host.slice(0, 8)}: ${outcome.detail}`;
        views.update(vmId, { detail: refused });
        if (outcome.code === "no-restorable-checkpoint") {
          views.update(vmId, { state: "failed" });
          return;
        }
      }
      views.update(vmId, { state: "waiting" });
    } finally {
      this.placing.delete(vmId);
    }
  }

  /**
   * Hands the VM to `host`: this epoch's key, sealed to that host only, and for each
   * checkpoint it may restore from an older epoch, that epoch's key (sealed to it
   * under this epoch). The owner hands over the old keys rather than re-sealing the
   * checkpoint: the host checks the bytes against the old host's signed record and
   * fetches them from any holder, and it is about to run (and see) that state anyway.
   * It never gets the key of a later epoch, so once it is a former host it can open
   * nothing made after it.
   */
  private async handOver(
    vm: VmRecord,
    record: SignedEntry<VmRecord>,
    signed: { lease: Lease; entry: SignedEntry<Lease> },
    restore: SignedEntry<CheckpointRecord>[],
    host: PeerAddress,
  ): Promise<Outcome> {
    const { mesh, clock } = this.o;
    const { lease } = signed;
    mesh.pin(host);
    if (!(await whenOpen(mesh, host, clock, this.o.linkTimeoutMs ?? 10_000)))
      return { state: "failed", code: null, detail: "no link to the host" };
    const boxKey = await this.o.boxKeyOf(host);
    if (!boxKey) return { state: "failed", code: null, detail: "the host has no key to seal to" };
    const sealKey = async (epoch: number, context: string): Promise<SealedBox | null> => {
      const key = await this.keys.forEpoch(vm.vmId, epoch);
      return key ? sealTo(boxKey, new TextEncoder().encode(await exportVmKey(key)), context) : null;
    };
    const sealedKey = await sealKey(lease.epoch, vmKeyContext(vm.vmId, lease.epoch));
    if (!sealedKey) return { state: "failed", code: null, detail: "this device lost the VM's key" };
    const restoreKeys: { epoch: number; key: SealedBox }[] = [];
    const leases: SignedEntry<Lease>[] = [];
    const before = await this.o.leases.leaseOf(vm.vmId, lease.epoch - 1);
    if (before) leases.push(before.entry);
    for (const epoch of new Set(restore.map((r) => r.payload.epoch))) {
      if (epoch >= lease.epoch) continue;
      const key = await sealKey(epoch, restoreKeyContext(vm.vmId, lease.epoch, epoch));
      if (key) restoreKeys.push({ epoch, key });
      const l = await this.o.leases.leaseOf(vm.vmId, epoch);
      if (l && epoch !== lease.epoch - 1) leases.push(l.entry);
    }
    const result = this.waitForStart(vm.vmId, lease.epoch, host);
    this.o.sendVm(host, {
      t: "start",
      vm: record,
      lease: signed.entry,
      key: sealedKey,
      restore,
      restoreKeys,
      leases,
    });
    return result;
  }

  /** Who keeps replicas of this epoch's checkpoints: a contributor that is neither the host nor this owner. */
  private replicasFor(host: PeerAddress, candidates: HostCandidate[]): PeerAddress[] {
    const others = candidates
      .filter((c) => c.presence.capacity.contributing)
      .map((c) => c.presence.peer)
      .filter((p) => p !== host && peerIdOf(p) !== this.o.leases.owner);
    const linked = others.filter((p) => this.o.mesh.isOpen(p));
    const pick = linked[0] ?? others[0];
    return pick ? [pick] : [];
  }

  /** Resolves with the host's answer; a host still restoring gets more time. */
  private waitForStart(vmId: string, epoch: number, host: PeerAddress): Promise<Outcome> {
    const { clock } = this.o;
    const waitKey = `${vmId}/${epoch}`;
    const timeoutMs = this.o.startTimeoutMs ?? 60_000;
    return new Promise<Outcome>((resolve) => {
      const timeout = (detail: string) =>
        clock.after(timeoutMs, () => finish({ state: "failed", code: null, detail }));
      let cancel = timeout("the host did not start it in time");
      const finish = (outcome: Outcome) => {
        cancel();
        if (outcome.state === "restoring") {
          // Still working (fetching the checkpoint): give it more time.
          cancel = timeout("restoring took too long");
          this.o.views.update(vmId, { detail: outcome.detail || "restoring" });
          return;
        }
        this.statusWaiters.delete(waitKey);
        resolve(outcome);
      };
      this.statusWaiters.set(waitKey, { host, done: finish });
    });
  }

  /** Checkpoints to restore from, newest first: the document's newest and what this tab holds. */
  private async restoreList(vmId: string): Promise<SignedEntry<CheckpointRecord>[]> {
    const entries: SignedEntry<CheckpointRecord>[] = [];
    const seen = new Set<string>();
    const add = (e: SignedEntry<CheckpointRecord> | null) => {
      if (!e) return;
      const id = `${e.payload.epoch}/${e.payload.seq}`;
      if (seen.has(id)) return;
      seen.add(id);
      entries.push(e);
    };
    // The records this tab stores with its own checkpoints count even when the document lost them.
    for (const s of await this.o.checkpoints.list(vmId)) add(s.entry);
    add((await this.o.leases.book.latestCheckpoint(vmId, this.o.leases.owner))?.entry ?? null);
    entries.sort((a, b) => b.payload.epoch - a.payload.epoch || b.payload.seq - a.payload.seq);
    return entries.slice(0, RESTORE_CHOICES);
  }

  /** Asks the host for a checkpoint now and waits (briefly) until this tab holds it. */
  async flush(vmId: string, host: PeerAddress): Promise<void> {
    const { mesh, clock } = this.o;
    if (!mesh.isOpen(host)) return;
    await new Promise<void>((resolve) => {
      const finish = () => {
        offKept();
        offClose();
        cancel();
        resolve();
      };
      // Done once this tab holds the newest checkpoint with its signed record: bytes whose
      // record has not come yet cannot be restored from, and placing then would have to wait.
      const offKept = this.o.checkpoints.onKept((kept) => {
        if (kept !== vmId) return;
        void this.o.checkpoints.newest(vmId).then((c) => {
          if (c?.entry) finish();
        });
      });
      const offClose = mesh.on("close", (peer) => {
        if (peer === host) finish();
      });
      const cancel = clock.after(FLUSH_TIMEOUT_MS, finish);
      this.o.sendVm(host, { t: "flush", vmId });
    });
  }

  // ---- Watching hosts

  private scheduleTick(): void {
    this.cancelTick = this.o.clock.after(this.o.tickMs ?? 1000, () => {
      void this.tick().finally(() => {
        if (this.running) this.scheduleTick();
      });
    });
  }

  /** The link to `peer` closed: the VMs it hosts were seen until now, and are looked at once the grace is over. */
  private linkClosed(peer: PeerAddress): void {
    const views = this.o.views.list().filter((v) => v.host === peer);
    if (views.length === 0 || !this.running) return;
    for (const v of views) this.lastSeen.set(v.vmId, this.o.now());
    const cancel = this.o.clock.after((this.o.graceMs ?? GRACE_MS) + 1, () => {
      this.cancelChecks.delete(cancel);
      void this.tick();
    });
    this.cancelChecks.add(cancel);
  }

  /** One look at every VM's host; never two at once. */
  private tick(): Promise<void> {
    this.ticking ??= this.look().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private async look(): Promise<void> {
    const { mesh } = this.o;
    if (!this.o.isLeader()) return;
    for (const { vm } of await this.o.leases.all()) {
      if (vm.deleted || this.placing.has(vm.vmId)) continue;
      const lease = await this.o.leases.currentLease(vm.vmId);
      if (!lease) {
        void this.place(vm.vmId, "start", new Set());
        continue;
      }
      if (lease.host === null) continue;
      mesh.pin(lease.host);
      if (mesh.isOpen(lease.host)) {
        this.lastSeen.set(vm.vmId, this.o.now());
        this.askIfUnheard(vm.vmId, lease.host, lease.epoch);
        continue;
      }
      if (this.hostGone(vm.vmId, lease.issuedAt))
        this.failover(vm.vmId, lease.host, "the host stopped answering");
    }
  }

  /**
   * Whether a VM's host is gone: its link closed more than the grace ago, or (never
   * linked since this tab started or the lease was issued) it has not linked in the
   * time a link takes to open.
   */
  private hostGone(vmId: string, issuedAt: number): boolean {
    const now = this.o.now();
    const seen = this.lastSeen.get(vmId);
    if (seen !== undefined) return now - seen > (this.o.graceMs ?? GRACE_MS);
    return now - Math.max(this.startedAtMs, issuedAt) > (this.o.linkTimeoutMs ?? 10_000);
  }

  /**
   * The signed lease says where the VM runs; only its host says how it is. Until this
   * tab has that host's report for this epoch (it just started, came back, or another
   * tab placed it), it shows "checking" and asks the host, every few seconds.
   */
  private askIfUnheard(vmId: string, host: PeerAddress, epoch: number): void {
    const { views } = this.o;
    const v = views.get(vmId);
    if (!v) return;
    const heard = v.host === host && v.epoch === epoch && v.reportedAt !== null;
    if (heard) return;
    // A VM waiting for room or credit keeps saying so while its last host is asked again.
    if ((v.host !== host || v.epoch !== epoch) && v.state !== "waiting")
      views.update(vmId, { host, epoch, state: "checking", reportedAt: null, detail: "" });
    const now = this.o.now();
    if (now - (this.askedAt.get(vmId) ?? -Infinity) < ASK_EVERY_MS) return;
    this.askedAt.set(vmId, now);
    void this.o.grant(vmId, host);
  }

  /** Moves a VM off `from` (which went away), from its newest checkpoint. */
  failover(vmId: string, from: PeerAddress, why: string): void {
    if (this.placing.has(vmId)) return;
    const cameBack = this.o.now() - this.startedAtMs < CAME_BACK_MS;
    const newest = this.o.views.get(vmId)?.lastCheckpoint;
    const age = newest ? `${Math.round((this.o.now() - newest.createdAt) / 1000)} s` : "unknown";
    const detail = cameBack
      ? `the host went away while you were offline: resuming from the checkpoint taken ${age} ago`
      : `${why}: moving it, resuming from the checkpoint taken ${age} ago`;
    this.o.views.update(vmId, { state: "moving", detail });
    this.o.mesh.unpin(from);
    void this.place(vmId, "failover", new Set([from]));
  }
}
