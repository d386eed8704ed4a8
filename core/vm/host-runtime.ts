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
import {
  leaseKey,
  parseVmRecord,
  VM_KIND,
  type VmBook,
  type VmRecord,
  vmIdFor,
} from "../state/vm-records.ts";
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { errorMessage } from "../util/errors.ts";
import type { CheckpointExchange } from "./checkpoint-exchange.ts";
import { type VmEngine, vmKeyContext } from "./engine.ts";
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
  clock: Clock;
  createEngine: () => VmEngine;
  settings: () => HostSettings;
  /** Peers who contribute (replica candidates), from presence. */
  contributors: () => PeerAddress[];
  now?: () => number;
}

type StartMessage = Extract<VmMessage, { t: "start" }>;

export class HostRuntime {
  private readonly events = new Emitter<HostEvents>();
  private readonly hosted = new Map<string, Hosting>();
  private readonly off: (() => void)[] = [];
  private readonly vmChannel: PeerChannel;
  private readonly console: HostConsole;
  private readonly checkpointer: HostCheckpointer;
  private readonly now: () => number;
  private accepting = false;

  constructor(private readonly o: HostRuntimeOptions) {
    this.now = o.now ?? Date.now;
    this.vmChannel = o.mesh.channel(VM_PROTOCOL);
    this.console = new HostConsole(o.mesh, this.hosted, this.now);
    this.checkpointer = new HostCheckpointer({
      identity: o.identity,
      mesh: o.mesh,
      book: o.book,
      transfers: o.transfers,
      clock: o.clock,
      now: this.now,
      intervalMs: () => o.settings().checkpointIntervalMs,
      contributors: o.contributors,
      isCurrent: (h) => this.hosted.get(h.vm.vmId) === h,
      changed: () => this.changed(),
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
    for (const h of this.hosted.values()) h.engine?.setBudget(pct);
  }

  vms(): HostedVm[] {
    return [...this.hosted.values()].map((h) => ({ ...h.view }));
  }

  count(): number {
    return [...this.hosted.values()].filter((h) => h.view.state === "running" || h.view.state === "restoring")
      .length;
  }

  async stop(): Promise<void> {
    for (const off of this.off.splice(0)) off();
    this.console.dispose();
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
    });
    for (const to of new Set([h.requester, ...h.viewers])) this.vmChannel.send(to, message);
    this.changed();
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
    if (!h) return;
    const transcript = h.engine ? await h.engine.transcript() : "";
    const { vmId, epoch } = h.lease;
    this.send(remote, { t: "attached", vmId, transcript });
    this.send(remote, { t: "status", vmId, epoch, state: h.view.state, code: null, detail: h.view.detail });
  }

  // ---- Starting a VM

  /** The VM record a start message vouches for, if its owner signed it and it names its own id. */
  private async recordOf(m: StartMessage): Promise<VmRecord | null> {
    const checked = await verifyEntry(m.vm, VM_KIND, parseVmRecord);
    if (!checked || checked.signer !== checked.payload.owner) return null;
    if ((await vmIdFor(checked.payload.owner, checked.payload.nonce)) !== checked.payload.vmId) return null;
    const inDoc = await this.o.book.vm(checked.payload.vmId);
    if (!inDoc) this.o.book.vms.set(checked.payload.vmId, m.vm);
    return inDoc && inDoc.vm.updatedAt >= checked.payload.updatedAt ? inDoc.vm : checked.payload;
  }

  private async start(remote: PeerAddress, m: StartMessage): Promise<void> {
    const { book, identity } = this.o;
    const record = await this.recordOf(m);
    if (!record) return; // nobody vouches for it: ignore
    const lease = await book.checkLease(m.lease, record.owner);
    const epoch = lease?.lease.epoch ?? 0;
    const refuse = (code: HostRefusal, detail: string): void => {
      this.send(remote, { t: "status", vmId: record.vmId, epoch, state: "refused", code, detail });
    };
    if (!lease || lease.lease.vmId !== record.vmId)
      return refuse("unsigned-lease", "the lease is not signed by the VM's owner");
    if (lease.lease.host !== this.o.mesh.self) return refuse("other-host", "the lease names another host");
    if (record.deleted) return refuse("deleted", "the VM is deleted");
    const newest = await book.currentLease(record.vmId, record.owner);
    if (newest && newest.lease.epoch > epoch)
      return refuse("newer-lease", `a newer lease exists (epoch ${newest.lease.epoch})`);
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
      });
      return;
    }
    if (!this.accepting) return refuse("not-contributing", "not contributing");
    const settings = this.o.settings();
    if (this.count() >= settings.slots) return refuse("no-slot", "no free slot");
    const perVmBytes = record.memoryBytes + HOST_OVERHEAD_BYTES;
    if ((this.count() + 1) * perVmBytes > settings.memoryMiB * 1024 * 1024)
      return refuse("no-memory", "not enough memory offered for another VM");
    // The owner's signed lease goes into the document, so every peer sees who runs the VM.
    if (!book.leases.has(leaseKey(record.vmId, epoch)))
      book.leases.set(leaseKey(record.vmId, epoch), m.lease);
    let key: CryptoKey;
    try {
      const raw = await openBox(identity.box, m.key, vmKeyContext(record.vmId, epoch));
      key = await importVmKey(new TextDecoder().decode(raw));
    } catch {
      return refuse("key-does-not-open", "the VM key does not open");
    }
    if (existing) await this.halt(record.vmId, "stopped", `moved to epoch ${epoch}`);
    const h = this.hosting(record, lease.lease, key, remote);
    this.hosted.set(record.vmId, h);
    this.status(
      h,
      "restoring",
      m.restore.length > 0 ? "fetching the newest checkpoint" : "starting from the image",
    );
    await this.run(h, m.restore);
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
      },
      vm,
      lease,
      key,
      engine: null,
      requester,
      viewers: new Set(),
      checkpoints: { seq: 0, previous: null, cancelTimer: null, busy: false },
    };
  }

  private async run(h: Hosting, restore: StartMessage["restore"]): Promise<void> {
    const current = () => this.hosted.get(h.vm.vmId) === h;
    let problems: string;
    try {
      problems = await bootHosted(h, restore, {
        self: this.o.mesh.self,
        book: this.o.book,
        exchange: this.o.exchange,
        replicas: this.o.replicas,
        createEngine: this.o.createEngine,
        budgetPct: this.o.settings().budgetPct,
        onOutput: this.console.output(h),
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
    this.checkpointer.schedule(h);
    void this.checkLeases();
  }

  // ---- Leases

  /** Stops any VM whose lease was superseded (moved or stopped by its owner) or that was deleted. */
  private async checkLeases(): Promise<void> {
    for (const h of [...this.hosted.values()]) {
      const vm = await this.o.book.vm(h.vm.vmId);
      if (vm?.vm.deleted) {
        await this.halt(h.vm.vmId, "stopped", "deleted by its owner");
        continue;
      }
      const newest = await this.o.book.currentLease(h.vm.vmId, h.vm.owner);
      if (newest && newest.lease.epoch > h.lease.epoch) {
        await this.halt(h.vm.vmId, "stopped", `superseded by epoch ${newest.lease.epoch}`);
      }
    }
  }

  private async halt(vmId: string, state: HostedState, detail: string): Promise<void> {
    const h = this.hosted.get(vmId);
    if (!h) return;
    this.hosted.delete(vmId);
    this.checkpointer.cancel(h);
    const engine = h.engine;
    h.engine = null;
    this.status(h, state, detail);
    await engine?.stop().catch(() => {});
    this.changed();
  }
}
