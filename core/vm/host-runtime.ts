// The contributor's side of remote VMs: accepts leases it can verify, boots the
// VM (host-boot.ts), serves its console to the owner's tabs (host-console.ts),
// checkpoints it (host-checkpointer.ts), and stops a VM the moment a newer lease
// exists. Replicas it keeps for others live in replica-store.ts.
import type { Identity } from "../crypto/identity.ts";
import { type SignedEntry, verifyEntry } from "../crypto/signed.ts";
import { importVmKey, openBox } from "../crypto/vm-crypto.ts";
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { Transfers } from "../net/transfer.ts";
import type { VerifiedLease, VmBook } from "../state/vm-book.ts";
import { leaseDigest, parseVmRecord, VM_KIND, type VmRecord, vmIdFor } from "../state/vm-records.ts";
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { errorMessage } from "../util/errors.ts";
import { isObject } from "../util/guards.ts";
import type { CheckpointExchange } from "./checkpoint-exchange.ts";
import { newPacing } from "./checkpoint-pacing.ts";
import { restoreKeyContext, type VmEngine, vmKeyContext } from "./engine.ts";
import { FileHost } from "./file-host.ts";
import { watchInput, watchOutput } from "./host-activity.ts";
import { type CreditRecords, HostBilling } from "./host-billing.ts";
import { bootHosted, NoRestorableCheckpoint } from "./host-boot.ts";
import { HostCheckpointer } from "./host-checkpointer.ts";
import { HostConsole } from "./host-console.ts";
import type { HostedVm, Hosting, HostSettings } from "./hosting.ts";
import { HOST_OVERHEAD_BYTES } from "./placement.ts";
import type { ReplicaStore } from "./replica-store.ts";
import {
  encodeVmMessage,
  type HostedState,
  type HostRefusal,
  parseVmMessage,
  VM_PROTOCOL,
  type VmMessage,
} from "./vm-protocol.ts";
import type { WebCounters } from "./web-host.ts";

export type { HostedVm, HostSettings } from "./hosting.ts";

interface HostEvents {
  change: () => void;
}

export interface HostRuntimeOptions {
  identity: Identity;
  mesh: MeshPort;
  book: VmBook;
  transfers: Transfers;
  exchange: CheckpointExchange;
  replicas: ReplicaStore;
  /** Receipts and balances (the peer's CreditBook). */
  credits: CreditRecords;
  clock: Clock;
  createEngine: () => VmEngine;
  settings: () => HostSettings;
  now?: () => number;
  /** What each VM's published ports served on this host so far (WebHost.countersOf). */
  traffic?: (vmId: string) => WebCounters;
}

type StartMessage = Extract<VmMessage, { t: "start" }>;

/** How many VMs' newest leases a host remembers. */
const SEEN_VMS = 4096;

export class HostRuntime {
  private readonly events = new Emitter<HostEvents>();
  private readonly hosted = new Map<string, Hosting>();
  private readonly off: (() => void)[] = [];
  private readonly vmChannel: PeerChannel;
  private readonly console: HostConsole;
  private readonly files: FileHost;
  private readonly checkpointer: HostCheckpointer;
  private readonly billing: HostBilling;
  private readonly now: () => number;
  /**
   * The newest lease seen of each VM this host ran or was asked to run, from the
   * document and from start messages: an older lease is never accepted again, even
   * once the document has lost the newer one.
   */
  private readonly seen = new Map<string, { owner: string; epoch: number; digest: string }>();
  private accepting = false;
  /** VMs this host gave its slot up for, by the epoch it ran (bounded like `seen`). */
  private readonly released = new Map<string, number>();

  constructor(private readonly o: HostRuntimeOptions) {
    this.now = o.now ?? Date.now;
    this.vmChannel = o.mesh.channel(VM_PROTOCOL);
    this.console = new HostConsole(o.mesh, this.hosted, this.now);
    // Files in and out: for the tabs granted the console, while the VM runs.
    this.files = new FileHost({
      mesh: o.mesh,
      portFor: (remote, vmId) => {
        const h = this.hosted.get(vmId);
        return h?.viewers.has(remote) && h.view.state === "running" ? (h.engine?.files?.() ?? null) : null;
      },
    });
    this.checkpointer = new HostCheckpointer({
      identity: o.identity,
      mesh: o.mesh,
      book: o.book,
      transfers: o.transfers,
      clock: o.clock,
      now: this.now,
      intervalMs: () => o.settings().checkpointIntervalMs,
      budgetPct: () => o.settings().budgetPct,
      sendRecord: (to, record) => {
        this.send(to, { t: "checkpoint", record });
        void this.reportDisk(record.payload.vmId);
      },
      isCurrent: (h) => this.hosted.get(h.vm.vmId) === h,
      changed: () => this.changed(),
    });
    this.billing = new HostBilling({
      selfPeerId: peerIdOf(o.mesh.self),
      credits: o.credits,
      clock: o.clock,
      meterIntervalMs: () => o.settings().meterIntervalMs,
      payment: () => {
        const graceMs = o.settings().paymentGraceMs ?? 30_000;
        return { throttleAfterMs: graceMs, pauseAfterMs: graceMs };
      },
      send: (to, message) => this.send(to, message),
      budgetPct: () => o.settings().budgetPct,
      checkpoint: async (h) => {
        await this.checkpointer.now(h);
      },
      isCurrent: (h) => this.hosted.get(h.vm.vmId) === h,
      changed: () => this.changed(),
      traffic: (h) => o.traffic?.(h.vm.vmId) ?? { requests: 0, bytesIn: 0, bytesOut: 0 },
    });
    this.off.push(
      this.vmChannel.on("message", (remote, payload) => {
        const m = parseVmMessage(payload);
        if (m) this.onMessage(remote, m);
      }),
      o.book.observe(() => void this.checkLeases()),
    );
  }

  on<K extends keyof HostEvents>(event: K, handler: HostEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  /** Whether new VMs are accepted (the Contribute switch). Running ones keep running until moved. */
  setAccepting(accepting: boolean): void {
    this.accepting = accepting;
  }

  /** Applies the current CPU budget (settings may have changed, or the device asks for less). */
  applyBudget(): void {
    const pct = this.o.settings().budgetPct;
    for (const h of this.hosted.values()) h.engine?.setBudget(pct * this.billing.factor(h));
  }

  vms(): HostedVm[] {
    return [...this.hosted.values()].map((h) => ({ ...h.view }));
  }

  /** The VM, if this host runs it and it is running (for web requests). */
  running(vmId: string): Hosting | null {
    const h = this.hosted.get(vmId);
    return h && h.view.state === "running" ? h : null;
  }

  count(): number {
    return [...this.hosted.values()].filter((h) => h.view.state === "running" || h.view.state === "restoring")
      .length;
  }

  async stop(): Promise<void> {
    for (const off of this.off.splice(0)) off();
    this.console.dispose();
    this.files.dispose();
    this.billing.dispose();
    await Promise.all([...this.hosted.keys()].map((vmId) => this.halt(vmId, "stopped", "the host stopped")));
    this.events.clear();
  }

  /** The page is going away: tell the owners so they move their VMs at once. */
  leaving(): void {
    const byOwner = new Map<PeerAddress, string[]>();
    for (const h of this.hosted.values()) {
      for (const to of new Set([h.requester, ...h.viewers]))
        byOwner.set(to, [...(byOwner.get(to) ?? []), h.vm.vmId]);
    }
    for (const [to, vmIds] of byOwner) this.send(to, { t: "leaving", vmIds });
  }

  /** Releases every hosted VM (Contribute switched off): a last checkpoint, then the owners move them. */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.hosted.values()].map((h) => this.checkpointer.now(h).catch(() => {})));
    this.leaving();
  }

  /**
   * The host must choose: its slots are full. A running VM whose owner ranks well
   * below the newcomer's (unpaid, or a much lower ratio) gives its slot up: a last
   * checkpoint, then its owner's tabs are told to move it, as when a page closes.
   * Only a VM whose owner has a tab linked to move it is ever chosen.
   */
  private async yieldSlotTo(owner: string): Promise<boolean> {
    const movable = [...this.hosted.values()].filter(
      (h) =>
        h.view.state === "running" &&
        h.vm.owner !== owner &&
        this.billing.ownerTabs(h).some((p) => this.o.mesh.isOpen(p)),
    );
    const victim = await this.billing.yieldingTo(owner, movable);
    if (!victim || this.hosted.get(victim.vm.vmId) !== victim) return false;
    await this.checkpointer.now(victim).catch(() => {});
    const reason = "its host gave the slot to an owner in better standing";
    for (const to of this.billing.ownerTabs(victim))
      this.send(to, { t: "leaving", vmIds: [victim.vm.vmId], reason });
    this.released.set(victim.vm.vmId, victim.lease.epoch);
    if (this.released.size > SEEN_VMS) this.released.delete(this.released.keys().next().value!);
    await this.halt(victim.vm.vmId, "stopped", reason);
    return true;
  }

  private changed(): void {
    this.events.emit("change");
  }

  private send(remote: PeerAddress, message: VmMessage): boolean {
    return this.vmChannel.send(remote, encodeVmMessage(message));
  }

  private status(h: Hosting, state: HostedState, detail: string, code: HostRefusal | null = null): void {
    h.view.state = state;
    h.view.detail = detail;
    const message = encodeVmMessage({
      t: "status",
      vmId: h.vm.vmId,
      epoch: h.lease.epoch,
      state,
      code,
      detail,
      outbound: h.view.outbound,
      ...(h.view.diskBytes !== null && { diskBytes: h.view.diskBytes }),
    });
    for (const to of new Set([h.requester, ...h.viewers])) this.vmChannel.send(to, message);
    this.changed();
  }

  /** Tells the owner's tabs what the VM's disk holds now (after a checkpoint, which carries it). */
  private async reportDisk(vmId: string): Promise<void> {
    const h = this.hosted.get(vmId);
    const stats = await h?.engine?.stats().catch(() => null);
    if (!h || this.hosted.get(vmId) !== h || stats?.diskBytes === undefined) return;
    if (stats.diskBytes === h.view.diskBytes) return;
    h.view.diskBytes = stats.diskBytes;
    this.status(h, h.view.state, h.view.detail);
  }

  private onMessage(remote: PeerAddress, m: VmMessage): void {
    switch (m.t) {
      case "start":
        void this.start(remote, m);
        return;
      case "attach":
        void this.attach(remote, m.grant);
        return;
      case "detach":
        this.console.detach(remote, m.vmId);
        return;
      case "receipt":
        this.billing.receipt(m.receipt, this.hosted.values());
        return;
      case "flush": {
        const h = this.hosted.get(m.vmId);
        // Only the owner's tabs may ask (it costs the host a checkpoint).
        if (h && peerIdOf(remote) === h.vm.owner) void this.checkpointer.now(h).catch(() => {});
        return;
      }
      default:
        return;
    }
  }

  private async attach(remote: PeerAddress, grant: SignedEntry<unknown>): Promise<void> {
    const h = await this.console.grant(remote, grant);
    if (!h) return this.notHere(remote, grant);
    const transcript = h.engine ? await h.engine.transcript() : "";
    const { vmId, epoch } = h.lease;
    this.send(remote, { t: "attached", vmId, transcript });
    const { state, detail, outbound, diskBytes } = h.view;
    this.send(remote, {
      t: "status",
      vmId,
      epoch,
      state,
      code: null,
      detail,
      outbound,
      ...(diskBytes !== null && { diskBytes }),
    });
  }

  /**
   * The owner asks after a VM this host gave its slot up for: say so, so the
   * owner places it again instead of waiting on it.
   */
  private notHere(remote: PeerAddress, grant: SignedEntry<unknown>): void {
    const vmId = isObject(grant?.payload) ? grant.payload.vmId : null;
    const seen = typeof vmId === "string" ? this.seen.get(vmId) : undefined;
    if (!seen || this.hosted.has(vmId as string) || peerIdOf(remote) !== seen.owner) return;
    if (this.released.get(vmId as string) !== seen.epoch) return; // only VMs it ran and let go
    this.send(remote, {
      t: "status",
      vmId: vmId as string,
      epoch: seen.epoch,
      state: "stopped",
      code: null,
      detail: "its host no longer runs it",
      outbound: false,
    });
  }

  // ---- Starting a VM

  /** The VM record a start message vouches for, if its owner signed it and it names its own id. */
  private async recordOf(m: StartMessage): Promise<VmRecord | null> {
    const checked = await verifyEntry(m.vm, VM_KIND, parseVmRecord);
    if (!checked || checked.signer !== checked.payload.owner) return null;
    if ((await vmIdFor(checked.payload.owner, checked.payload.nonce)) !== checked.payload.vmId) return null;
    // Only the owner writes its record into the shared state; the one the start carries is proof enough.
    const inDoc = await this.o.book.vm(checked.payload.vmId);
    return inDoc && inDoc.vm.updatedAt >= checked.payload.updatedAt ? inDoc.vm : checked.payload;
  }

  private async start(remote: PeerAddress, m: StartMessage): Promise<void> {
    const { book } = this.o;
    const record = await this.recordOf(m);
    if (!record) return; // nobody vouches for it: ignore
    const lease = await book.checkLease(m.lease, record.owner);
    const epoch = lease?.lease.epoch ?? 0;
    const refuse = (code: HostRefusal, detail: string): void => {
      const status = { vmId: record.vmId, epoch, state: "refused", code, detail, outbound: false } as const;
      this.send(remote, { t: "status", ...status });
    };
    if (!lease || lease.lease.vmId !== record.vmId)
      return refuse("unsigned-lease", "the lease is not signed by the VM's owner");
    // A signed lease is not a request: anyone may replay one. Only the owner's own tabs start a VM.
    if (peerIdOf(remote) !== record.owner) return refuse("not-owner", "only the VM's owner may start it");
    if (lease.lease.host !== this.o.mesh.self) return refuse("other-host", "the lease names another host");
    if (record.deleted) return refuse("deleted", "the VM is deleted");
    const handed = await this.handedLeases(m, record);
    await this.noteLeases(record.vmId, record.owner);
    for (const l of handed.values()) await this.note(record.vmId, record.owner, l);
    const digest = await leaseDigest(lease.entry);
    const seen = this.seen.get(record.vmId);
    if (seen && seen.epoch > epoch)
      return refuse("newer-lease", `a newer lease exists (epoch ${seen.epoch})`);
    if (seen && seen.epoch === epoch && seen.digest !== digest)
      return refuse("broken-chain", `another lease of epoch ${epoch} exists`);
    const before = handed.get(epoch - 1) ?? (await this.leaseInDoc(record, epoch - 1));
    if (before && (await leaseDigest(before.entry)) !== lease.lease.previous)
      return refuse("broken-chain", "the lease does not follow the one before it");
    const existing = this.hosted.get(record.vmId);
    if (existing && existing.lease.epoch === epoch) {
      const v = existing.view;
      this.send(remote, {
        t: "status",
        vmId: record.vmId,
        epoch,
        state: v.state,
        code: null,
        detail: v.detail,
        outbound: v.outbound,
      });
      return;
    }
    if (!this.accepting) return refuse("not-contributing", "not contributing");
    const standing = await this.billing.standing(record.owner);
    if (!standing.admit) return refuse(standing.code, standing.reason);
    const settings = this.o.settings();
    if (this.count() >= settings.slots && !(await this.yieldSlotTo(record.owner)))
      return refuse("no-slot", "no free slot");
    // What the VMs running here take, and this one would (VMs differ: a Debian VM may have 512 MiB).
    let usedBytes = record.memoryBytes + HOST_OVERHEAD_BYTES;
    for (const h of this.hosted.values())
      if ((h.view.state === "running" || h.view.state === "restoring") && h.vm.vmId !== record.vmId)
        usedBytes += h.vm.memoryBytes + HOST_OVERHEAD_BYTES;
    if (usedBytes > settings.memoryMiB * 1024 * 1024)
      return refuse("no-memory", "not enough memory offered for another VM");
    let key: CryptoKey;
    const restoreKeys = new Map<number, CryptoKey>();
    try {
      key = await this.openKey(m.key, vmKeyContext(record.vmId, epoch));
      for (const k of m.restoreKeys ?? []) {
        if (k.epoch >= epoch) continue; // only older epochs' keys are ever handed over
        restoreKeys.set(k.epoch, await this.openKey(k.key, restoreKeyContext(record.vmId, epoch, k.epoch)));
      }
    } catch {
      return refuse("key-does-not-open", "the VM key does not open");
    }
    // Accepted: this is the newest lease this host knows of the VM.
    await this.note(record.vmId, record.owner, lease);
    if (existing) await this.halt(record.vmId, "stopped", `moved to epoch ${epoch}`);
    const h = this.hosting(record, lease.lease, key, remote);
    h.restoreKeys = restoreKeys;
    h.leases = new Map([...handed].map(([e, l]) => [e, l.lease]));
    this.hosted.set(record.vmId, h);
    for (const r of lease.lease.replicas) this.o.mesh.pin(r);
    this.status(
      h,
      "restoring",
      m.restore.length > 0 ? "fetching the newest checkpoint" : "starting from the image",
    );
    await this.run(h, m.restore, digest);
  }

  private async openKey(box: StartMessage["key"], context: string): Promise<CryptoKey> {
    const raw = await openBox(this.o.identity.box, box, context);
    return importVmKey(new TextDecoder().decode(raw));
  }

  /** The owner's leases that came with a start, by epoch (only those that verify). */
  private async handedLeases(m: StartMessage, record: VmRecord): Promise<Map<number, VerifiedLease>> {
    const out = new Map<number, VerifiedLease>();
    for (const entry of m.leases ?? []) {
      const l = await this.o.book.checkLease(entry, record.owner);
      if (l && l.lease.vmId === record.vmId && !out.has(l.lease.epoch)) out.set(l.lease.epoch, l);
    }
    return out;
  }

  private async leaseInDoc(record: VmRecord, epoch: number): Promise<VerifiedLease | null> {
    if (epoch < 1) return null;
    const held = await this.o.book.leasesOf(record.vmId, record.owner);
    return held.find((l) => l.lease.epoch === epoch) ?? null;
  }

  /** Remembers `l` if it is the newest lease of the VM seen so far. */
  private async note(vmId: string, owner: string, l: VerifiedLease): Promise<void> {
    const digest = await leaseDigest(l.entry);
    // Checked and set with nothing awaited in between, so a slower older lease never wins.
    const seen = this.seen.get(vmId);
    if (seen && seen.epoch >= l.lease.epoch) return;
    this.seen.delete(vmId);
    if (this.seen.size >= SEEN_VMS) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(vmId, { owner, epoch: l.lease.epoch, digest });
  }

  /** Learns the newest lease the document holds of a VM. */
  private async noteLeases(vmId: string, owner: string): Promise<VerifiedLease | null> {
    const newest = await this.o.book.currentLease(vmId, owner);
    if (newest) await this.note(vmId, owner, newest);
    return newest;
  }

  private hosting(vm: VmRecord, lease: Hosting["lease"], key: CryptoKey, requester: PeerAddress): Hosting {
    return {
      view: {
        vmId: vm.vmId,
        owner: vm.owner,
        name: vm.name,
        epoch: lease.epoch,
        state: "restoring",
        detail: "",
        startedAtMs: this.now(),
        lastCheckpoint: null,
        payment: null,
        // Fixed for the lease: the engine is told at its start (a changed setting applies to the next VM).
        outbound: this.o.settings().outboundAllowed === true,
        diskBytes: null,
      },
      vm,
      lease,
      key,
      restoreKeys: new Map(),
      leases: new Map(),
      engine: null,
      requester,
      viewers: new Set(),
      checkpoints: {
        seq: 0,
        previous: null,
        cancelTimer: null,
        timerDueMs: null,
        busy: false,
        pacing: newPacing(this.o.clock.nowMs()),
      },
    };
  }

  private async run(h: Hosting, restore: StartMessage["restore"], digest: string): Promise<void> {
    const current = () => this.hosted.get(h.vm.vmId) === h;
    let problems: string;
    try {
      problems = await bootHosted(h, restore, {
        self: this.o.mesh.self,
        book: this.o.book,
        exchange: this.o.exchange,
        replicas: this.o.replicas,
        // What is typed in and what comes out is the guest's activity: checkpoints follow it.
        createEngine: () => watchInput(this.o.createEngine(), () => this.checkpointer.activity(h)),
        budgetPct: this.o.settings().budgetPct,
        outbound: h.view.outbound,
        onOutput: watchOutput(this.console.output(h), () => this.checkpointer.activity(h)),
        keepLink: (peer) => [...this.hosted.values()].some((x) => x.requester === peer),
      });
    } catch (err) {
      if (!current()) return;
      await h.engine?.stop().catch(() => {});
      h.engine = null;
      const code = err instanceof NoRestorableCheckpoint ? "no-restorable-checkpoint" : "start-failed";
      this.status(h, "failed", errorMessage(err), code);
      this.hosted.delete(h.vm.vmId);
      this.changed();
      return;
    }
    if (!current()) {
      await h.engine?.stop().catch(() => {});
      return;
    }
    this.status(h, "running", problems);
    this.billing.begin(h, digest);
    this.applyBudget();
    this.console.running(h);
    this.checkpointer.schedule(h);
    void this.checkLeases();
  }

  // ---- Leases

  /** Stops any VM whose lease was superseded (moved or stopped by its owner) or that was deleted. */
  private async checkLeases(): Promise<void> {
    for (const [vmId, s] of [...this.seen]) {
      if (!this.hosted.has(vmId)) await this.noteLeases(vmId, s.owner);
    }
    for (const h of [...this.hosted.values()]) {
      const vm = await this.o.book.vm(h.vm.vmId);
      if (vm?.vm.deleted) {
        await this.halt(h.vm.vmId, "stopped", "deleted by its owner");
        continue;
      }
      await this.noteLeases(h.vm.vmId, h.vm.owner);
      const newest = this.seen.get(h.vm.vmId)?.epoch ?? 0;
      if (newest > h.lease.epoch) await this.halt(h.vm.vmId, "stopped", `superseded by epoch ${newest}`);
    }
  }

  private async halt(vmId: string, state: HostedState, detail: string): Promise<void> {
    const h = this.hosted.get(vmId);
    if (!h) return;
    this.hosted.delete(vmId);
    this.checkpointer.cancel(h);
    this.billing.end(h);
    const stillNeeded = new Set([...this.hosted.values()].flatMap((x) => [x.requester, ...x.lease.replicas]));
    for (const r of h.lease.replicas) if (!stillNeeded.has(r)) this.o.mesh.unpin(r);
    const engine = h.engine;
    h.engine = null;
    this.status(h, state, detail);
    await engine?.stop().catch(() => {});
    this.changed();
  }
}
