// The contributor's side of remote VMs: accepts leases it can verify, boots the
// VM (restoring the newest checkpoint that checks out), serves its console to
// the owner's tabs, checkpoints it on an interval to the owner and a replica,
// keeps replicas for others, and stops a VM the moment a newer lease exists.

import type { Identity } from "../crypto/identity.ts";
import { type SignedEntry, signEntry, verifyEntry } from "../crypto/signed.ts";
import { importVmKey, openBox } from "../crypto/vm-crypto.ts";
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { TransferOffer, Transfers } from "../net/transfer.ts";
import type { KeyValueStore } from "../state/storage.ts";
import {
  ATTACH_KIND,
  CHECKPOINT_KIND,
  type CheckpointRecord,
  type CheckpointSummary,
  checkpointKey,
  type Lease,
  leaseKey,
  parseAttachGrant,
  parseVmRecord,
  VM_KIND,
  type VmBook,
  type VmRecord,
  vmIdFor,
} from "../state/vm-records.ts";
import { sha256Hex } from "../util/bytes.ts";
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { errorMessage } from "../util/errors.ts";
import { HOST_OVERHEAD_BYTES } from "./placement.ts";
import {
  encodeShell,
  encodeVmMessage,
  type HostedState,
  parseShell,
  parseVmMessage,
  SHELL_PROTOCOL,
  VM_PROTOCOL,
  type VmMessage,
} from "./vm-protocol.ts";

/** What runs one VM (a Web Worker in the browser, v86 directly in Node tests). */
export interface VmEngine {
  /** Boots from the image, or restores sealed checkpoint bytes (throws if they do not open). */
  start(options: {
    imageId: string;
    sealed: { bytes: Uint8Array; key: CryptoKey; context: string } | null;
    budgetPct: number;
    onOutput: (bytes: Uint8Array) => void;
  }): Promise<void>;
  input(bytes: Uint8Array): void;
  /** Saves, packs (delta against the image, gzip) and seals the VM's state. */
  checkpoint(
    key: CryptoKey,
    context: string,
  ): Promise<{ sealed: Uint8Array; rawBytes: number; saveMs: number; packMs: number }>;
  transcript(): Promise<string>;
  setBudget(pct: number): void;
  stats(): Promise<{ usedPct: number; instructions: number }>;
  stop(): Promise<void>;
}

export interface HostSettings {
  slots: number;
  memoryMiB: number;
  budgetPct: number;
  checkpointIntervalMs: number;
}

export interface HostedVm {
  vmId: string;
  owner: string;
  name: string;
  epoch: number;
  state: HostedState;
  detail: string;
  startedAtMs: number;
  lastCheckpoint: { seq: number; atMs: number; bytes: number; saveMs: number; transferMs: number } | null;
}

interface Hosting {
  view: HostedVm;
  vm: VmRecord;
  lease: Lease;
  key: CryptoKey;
  engine: VmEngine | null;
  requester: PeerAddress;
  viewers: Set<PeerAddress>;
  seq: number;
  previous: CheckpointSummary | null;
  cancelCheckpoint: (() => void) | null;
  checkpointing: boolean;
}

interface HostEvents {
  change: () => void;
}

export interface HostRuntimeOptions {
  identity: Identity;
  mesh: MeshPort;
  book: VmBook;
  transfers: Transfers;
  clock: Clock;
  createEngine: () => VmEngine;
  /** Where replicas of others' checkpoints are kept (ciphertext only). */
  replicas: KeyValueStore;
  settings: () => HostSettings;
  /** Peers who contribute (replica candidates), from presence. */
  contributors: () => PeerAddress[];
  now?: () => number;
  fetchTimeoutMs?: number;
}

const REPLICA_INDEX = "replica-index";
const MAX_REPLICA_BYTES = 512 * 1024 * 1024;

export const checkpointContext = (vmId: string, epoch: number, seq: number) =>
  `checkpoint/${vmId}/${epoch}/${seq}`;
export const vmKeyContext = (vmId: string, epoch: number) => `vm-key/${vmId}/${epoch}`;

export class HostRuntime {
  private readonly events = new Emitter<HostEvents>();
  private readonly hosted = new Map<string, Hosting>();
  private readonly off: (() => void)[] = [];
  private readonly fetchWaiters = new Map<
    string,
    { from: PeerAddress; done: (bytes: Uint8Array | null) => void }
  >();
  private accepting = false;
  private readonly now: () => number;
  private readonly vmChannel: PeerChannel;
  private readonly shell: PeerChannel;

  constructor(private readonly o: HostRuntimeOptions) {
    this.now = o.now ?? Date.now;
    this.vmChannel = o.mesh.channel(VM_PROTOCOL);
    this.shell = o.mesh.channel(SHELL_PROTOCOL);
    this.off.push(
      this.vmChannel.on("message", (remote, payload) => this.onMessage(remote, payload)),
      this.shell.on("message", (remote, payload) => this.onShell(remote, payload)),
      o.mesh.on("close", (remote) => this.onClose(remote)),
      o.book.observe(() => void this.checkLeases()),
      o.transfers.on("received", (remote, offer, bytes) => void this.onReceived(remote, offer, bytes)),
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
    await Promise.all([...this.hosted.values()].map((h) => this.checkpointNow(h).catch(() => {})));
    this.leaving();
  }

  private changed(): void {
    this.events.emit("change");
  }

  private status(h: Hosting, state: HostedState, detail: string): void {
    h.view.state = state;
    h.view.detail = detail;
    const message = encodeVmMessage({ t: "status", vmId: h.vm.vmId, epoch: h.lease.epoch, state, detail });
    for (const to of new Set([h.requester, ...h.viewers])) this.vmChannel.send(to, message);
    this.changed();
  }

  private reply(remote: PeerAddress, vmId: string, epoch: number, state: HostedState, detail: string): void {
    this.send(remote, { t: "status", vmId, epoch, state, detail });
  }

  private send(remote: PeerAddress, message: VmMessage): boolean {
    return this.vmChannel.send(remote, encodeVmMessage(message));
  }

  private onShell(remote: PeerAddress, payload: Uint8Array): void {
    const shell = parseShell(payload);
    const h = shell && this.hosted.get(shell.vmId);
    // Only tabs the owner granted the console may type into it.
    if (h?.engine && h.viewers.has(remote) && h.view.state === "running") h.engine.input(shell!.bytes);
  }

  private onMessage(remote: PeerAddress, payload: Uint8Array): void {
    const message = parseVmMessage(payload);
    if (!message) return;
    switch (message.t) {
      case "start":
        void this.start(remote, message);
        return;
      case "attach":
        void this.attach(remote, message.grant);
        return;
      case "detach":
        this.hosted.get(message.vmId)?.viewers.delete(remote);
        return;
      case "flush": {
        const h = this.hosted.get(message.vmId);
        // Only the owner's tabs may ask (it costs the host a checkpoint).
        if (h && peerIdOf(remote) === h.vm.owner) void this.checkpointNow(h).catch(() => {});
        return;
      }
      case "fetch":
        void this.serveFetch(remote, message.vmId, message.epoch, message.seq);
        return;
      case "fetch-failed": {
        const key = `${message.vmId}/${message.epoch}/${message.seq}`;
        const waiter = this.fetchWaiters.get(key);
        if (waiter?.from === remote) waiter.done(null);
        return;
      }
      default:
        return;
    }
  }

  private onClose(remote: PeerAddress): void {
    for (const h of this.hosted.values()) h.viewers.delete(remote);
    for (const waiter of this.fetchWaiters.values()) if (waiter.from === remote) waiter.done(null);
  }

  // ---- Starting a VM

  private async start(remote: PeerAddress, m: Extract<VmMessage, { t: "start" }>): Promise<void> {
    const { book, identity } = this.o;
    const checkedVm = await verifyEntry(m.vm, VM_KIND, parseVmRecord);
    if (!checkedVm || checkedVm.signer !== checkedVm.payload.owner) return; // nobody vouches for it: ignore
    if ((await vmIdFor(checkedVm.payload.owner, checkedVm.payload.nonce)) !== checkedVm.payload.vmId) return;
    const inDoc = await book.vm(checkedVm.payload.vmId);
    const record = inDoc && inDoc.vm.updatedAt >= checkedVm.payload.updatedAt ? inDoc.vm : checkedVm.payload;
    if (!inDoc) book.vms.set(record.vmId, m.vm);
    const lease = await book.checkLease(m.lease, record.owner);
    const epoch = lease?.lease.epoch ?? 0;
    const refuse = (detail: string) => this.reply(remote, record.vmId, epoch, "refused", detail);
    if (!lease || lease.lease.vmId !== record.vmId)
      return refuse("the lease is not signed by the VM's owner");
    if (lease.lease.host !== this.o.mesh.self) return refuse("the lease names another host");
    if (record.deleted) return refuse("the VM is deleted");
    const newest = await book.currentLease(record.vmId, record.owner);
    if (newest && newest.lease.epoch > epoch)
      return refuse(`a newer lease exists (epoch ${newest.lease.epoch})`);
    const existing = this.hosted.get(record.vmId);
    if (existing && existing.lease.epoch === epoch) {
      this.reply(remote, record.vmId, epoch, existing.view.state, existing.view.detail);
      return;
    }
    if (!this.accepting) return refuse("not contributing");
    const settings = this.o.settings();
    if (this.count() >= settings.slots) return refuse("no free slot");
    const perVmBytes = record.memoryBytes + HOST_OVERHEAD_BYTES;
    if ((this.count() + 1) * perVmBytes > settings.memoryMiB * 1024 * 1024) {
      return refuse("not enough memory offered for another VM");
    }
    // The owner's signed lease goes into the document, so every peer sees who runs the VM.
    if (!book.leases.has(leaseKey(record.vmId, epoch)))
      book.leases.set(leaseKey(record.vmId, epoch), m.lease);
    let key: CryptoKey;
    try {
      const raw = await openBox(identity.box, m.key, vmKeyContext(record.vmId, epoch));
      key = await importVmKey(new TextDecoder().decode(raw));
    } catch {
      return refuse("the VM key does not open");
    }
    if (existing) await this.halt(record.vmId, "stopped", `moved to epoch ${epoch}`);
    const h: Hosting = {
      view: {
        vmId: record.vmId,
        owner: record.owner,
        name: record.name,
        epoch,
        state: "restoring",
        detail: "",
        startedAtMs: this.now(),
        lastCheckpoint: null,
      },
      vm: record,
      lease: lease.lease,
      key,
      engine: null,
      requester: remote,
      viewers: new Set(),
      seq: 0,
      previous: null,
      cancelCheckpoint: null,
      checkpointing: false,
    };
    this.hosted.set(record.vmId, h);
    this.status(
      h,
      "restoring",
      m.restore.length > 0 ? "fetching the newest checkpoint" : "starting from the image",
    );
    let problems: string;
    try {
      problems = await this.boot(h, m.restore);
    } catch (err) {
      if (this.hosted.get(record.vmId) !== h) return;
      await h.engine?.stop().catch(() => {});
      h.engine = null;
      this.status(h, "failed", errorMessage(err));
      this.hosted.delete(record.vmId);
      this.changed();
      return;
    }
    if (this.hosted.get(record.vmId) !== h) {
      await h.engine?.stop().catch(() => {});
      return;
    }
    this.status(h, "running", problems);
    this.scheduleCheckpoint(h);
    void this.checkLeases();
  }

  /** Boots from the first checkpoint that is genuine and opens; from the image only when there is none. */
  private async boot(h: Hosting, restore: SignedEntry<CheckpointRecord>[]): Promise<string> {
    const problems: string[] = [];
    const onOutput = (bytes: Uint8Array) => {
      const frame = encodeShell(h.vm.vmId, bytes);
      for (const v of h.viewers) this.shell.send(v, frame);
    };
    const settings = this.o.settings();
    for (const entry of restore) {
      const checked = await this.o.book.checkCheckpoint(entry, h.vm.vmId, h.vm.owner);
      if (!checked) {
        problems.push("a checkpoint record whose signature does not hold");
        continue;
      }
      const r = checked.record;
      const sealed = await this.fetchSealed(r, h.requester);
      if (!sealed) {
        problems.push(`checkpoint ${r.epoch}.${r.seq}: refused, no holder sent bytes that match its record`);
        continue;
      }
      const engine = this.o.createEngine();
      h.engine = engine;
      try {
        await engine.start({
          imageId: h.vm.imageId,
          sealed: { bytes: sealed, key: h.key, context: checkpointContext(h.vm.vmId, r.epoch, r.seq) },
          budgetPct: settings.budgetPct,
          onOutput,
        });
        h.previous = { epoch: r.epoch, seq: r.seq, sha256: r.sha256, bytes: r.bytes };
        return problems.join("; ");
      } catch (err) {
        await engine.stop().catch(() => {});
        h.engine = null;
        problems.push(`checkpoint ${r.epoch}.${r.seq}: refused (${errorMessage(err)})`);
      }
    }
    if (restore.length > 0) throw new Error(`no checkpoint could be restored: ${problems.join("; ")}`);
    const engine = this.o.createEngine();
    h.engine = engine;
    await engine.start({ imageId: h.vm.imageId, sealed: null, budgetPct: settings.budgetPct, onOutput });
    return "";
  }

  /** Gets a checkpoint's sealed bytes from its holders (and the owner): the first that match the record. */
  private async fetchSealed(r: CheckpointRecord, owner: PeerAddress): Promise<Uint8Array | null> {
    const local = await this.loadReplica(r.vmId, r.epoch, r.seq);
    if (local && (await sha256Hex(local)) === r.sha256) return local;
    const sources = [...new Set([owner, ...r.holders])].filter((p) => p !== this.o.mesh.self);
    for (const from of sources) {
      const bytes = await this.fetchFrom(from, r);
      // A holder that sends other bytes (tampered or corrupt) is passed over.
      if (bytes && (await sha256Hex(bytes)) === r.sha256) return bytes;
    }
    return null;
  }

  private async fetchFrom(from: PeerAddress, r: CheckpointRecord): Promise<Uint8Array | null> {
    const { mesh, clock } = this.o;
    const key = `${r.vmId}/${r.epoch}/${r.seq}`;
    mesh.pin(from);
    const timeoutMs = this.o.fetchTimeoutMs ?? 30_000;
    try {
      for (let waited = 0; !mesh.isOpen(from); waited += 100) {
        if (waited > 8000) return null;
        await new Promise<void>((resolve) => clock.after(100, resolve));
      }
      return await new Promise<Uint8Array | null>((resolve) => {
        const cancel = clock.after(timeoutMs, () => finish(null));
        const finish = (bytes: Uint8Array | null) => {
          cancel();
          if (this.fetchWaiters.get(key)?.from === from) this.fetchWaiters.delete(key);
          resolve(bytes);
        };
        this.fetchWaiters.set(key, { from, done: finish });
        this.send(from, { t: "fetch", vmId: r.vmId, epoch: r.epoch, seq: r.seq });
      });
    } finally {
      if (![...this.hosted.values()].some((h) => h.requester === from)) mesh.unpin(from);
    }
  }

  // ---- Console

  private async attach(remote: PeerAddress, grant: SignedEntry<unknown>): Promise<void> {
    const checked = await verifyEntry(grant, ATTACH_KIND, parseAttachGrant);
    if (!checked) return;
    const g = checked.payload;
    const h = this.hosted.get(g.vmId);
    if (!h || checked.signer !== h.vm.owner || g.host !== this.o.mesh.self || g.viewer !== remote) return;
    if (Math.abs(this.now() - g.at) > 5 * 60_000) return; // stale grant
    h.viewers.add(remote);
    const transcript = h.engine ? await h.engine.transcript() : "";
    this.send(remote, { t: "attached", vmId: g.vmId, transcript });
    this.send(remote, {
      t: "status",
      vmId: g.vmId,
      epoch: h.lease.epoch,
      state: h.view.state,
      detail: h.view.detail,
    });
  }

  // ---- Checkpoints

  private scheduleCheckpoint(h: Hosting): void {
    h.cancelCheckpoint?.();
    h.cancelCheckpoint = this.o.clock.after(this.o.settings().checkpointIntervalMs, () => {
      h.cancelCheckpoint = null;
      void this.checkpointNow(h)
        .catch(() => {})
        .finally(() => {
          if (this.hosted.get(h.vm.vmId) === h && h.view.state === "running") this.scheduleCheckpoint(h);
        });
    });
  }

  /** Checkpoints a hosted VM now (the interval does this on its own). */
  checkpoint(vmId: string): Promise<CheckpointRecord | null> {
    const h = this.hosted.get(vmId);
    return h ? this.checkpointNow(h) : Promise.resolve(null);
  }

  /** Seals a checkpoint, sends it to the owner and a replica, and records it once someone holds it. */
  private async checkpointNow(h: Hosting): Promise<CheckpointRecord | null> {
    if (!h.engine || h.view.state !== "running" || h.checkpointing) return null;
    h.checkpointing = true;
    try {
      const seq = h.seq + 1;
      const context = checkpointContext(h.vm.vmId, h.lease.epoch, seq);
      const packed = await h.engine.checkpoint(h.key, context);
      if (this.hosted.get(h.vm.vmId) !== h) return null;
      const sha256 = await sha256Hex(packed.sealed);
      const meta = { purpose: "checkpoint", vmId: h.vm.vmId, epoch: h.lease.epoch, seq, sha256 };
      const targets = this.holdersFor(h);
      const t0 = this.now();
      const results = await Promise.allSettled(
        targets.map((to) => this.o.transfers.send(to, meta, packed.sealed)),
      );
      const holders = targets.filter((_, i) => results[i]!.status === "fulfilled");
      if (holders.length === 0) return null; // nobody holds it: the previous checkpoint stays the newest
      const record: CheckpointRecord = {
        vmId: h.vm.vmId,
        epoch: h.lease.epoch,
        seq,
        sha256,
        bytes: packed.sealed.length,
        rawBytes: packed.rawBytes,
        host: this.o.mesh.self,
        holders,
        createdAt: this.now(),
        previous: h.previous,
      };
      if (this.hosted.get(h.vm.vmId) !== h) return null;
      this.o.book.checkpoints.set(
        checkpointKey(h.vm.vmId, h.lease.epoch),
        await signEntry(this.o.identity, CHECKPOINT_KIND, record),
      );
      h.seq = seq;
      h.previous = { epoch: record.epoch, seq, sha256, bytes: record.bytes };
      h.view.lastCheckpoint = {
        seq,
        atMs: this.now(),
        bytes: record.bytes,
        saveMs: packed.saveMs,
        transferMs: this.now() - t0,
      };
      this.changed();
      return record;
    } finally {
      h.checkpointing = false;
    }
  }

  /** The owner's tabs that are linked, and one replica: a contributor that is not the owner. */
  private holdersFor(h: Hosting): PeerAddress[] {
    const open = this.o.mesh.openLinks();
    const owners = open.filter((p) => peerIdOf(p) === h.vm.owner);
    const others = open.filter((p) => peerIdOf(p) !== h.vm.owner);
    const contributors = new Set(this.o.contributors());
    const replica = others.find((p) => contributors.has(p)) ?? others[0];
    const preferred = owners.includes(h.requester) ? [h.requester] : owners.slice(0, 1);
    return [...preferred, ...(replica ? [replica] : [])];
  }

  /** Someone sent us sealed bytes: a fetched checkpoint we wait for, or a replica to keep. */
  private async onReceived(remote: PeerAddress, offer: TransferOffer, bytes: Uint8Array): Promise<void> {
    const meta = offer.meta as { purpose?: string; vmId?: string; epoch?: number; seq?: number };
    if (meta?.purpose !== "checkpoint" || typeof meta.vmId !== "string") return;
    const key = `${meta.vmId}/${meta.epoch}/${meta.seq}`;
    const waiter = this.fetchWaiters.get(key);
    if (waiter?.from === remote) {
      waiter.done(bytes);
      return;
    }
    const vm = await this.o.book.vm(meta.vmId);
    if (!vm || peerIdOf(this.o.mesh.self) === vm.vm.owner) return; // the owner keeps its own copies

    await this.storeReplica(meta.vmId, meta.epoch ?? 0, meta.seq ?? 0, bytes);
  }

  /** Accepts replicas of VMs the document knows, from their current host. */
  async acceptOffer(remote: PeerAddress, offer: TransferOffer): Promise<boolean> {
    const meta = offer.meta as { purpose?: string; vmId?: string; epoch?: number; seq?: number };
    if (meta?.purpose !== "checkpoint" || typeof meta.vmId !== "string") return false;
    const key = `${meta.vmId}/${meta.epoch}/${meta.seq}`;
    if (this.fetchWaiters.get(key)?.from === remote) return true;
    const vm = await this.o.book.vm(meta.vmId);
    if (!vm || vm.vm.deleted) return false;
    const lease = await this.o.book.currentLease(meta.vmId, vm.vm.owner);
    return lease?.lease.host === remote && lease.lease.epoch === meta.epoch;
  }

  private async storeReplica(vmId: string, epoch: number, seq: number, bytes: Uint8Array): Promise<void> {
    const { replicas } = this.o;
    const index =
      ((await replicas.get(REPLICA_INDEX)) as { key: string; vmId: string; bytes: number }[] | undefined) ??
      [];
    const key = `replica/${vmId}/${epoch}/${seq}`;
    index.push({ key, vmId, bytes: bytes.length });
    // Two per VM (the newest and the one before), and a total cap.
    const keep: typeof index = [];
    for (const item of [...index].reverse()) {
      const sameVm = keep.filter((k) => k.vmId === item.vmId).length;
      const total = keep.reduce((s, k) => s + k.bytes, 0);
      if (sameVm < 2 && total + item.bytes <= MAX_REPLICA_BYTES) keep.unshift(item);
      else await replicas.delete(item.key);
    }
    await replicas.set(key, bytes);
    await replicas.set(REPLICA_INDEX, keep);
  }

  private async loadReplica(vmId: string, epoch: number, seq: number): Promise<Uint8Array | null> {
    const value = await this.o.replicas.get(`replica/${vmId}/${epoch}/${seq}`);
    return value instanceof Uint8Array ? value : null;
  }

  private async serveFetch(remote: PeerAddress, vmId: string, epoch: number, seq: number): Promise<void> {
    const bytes = await this.loadReplica(vmId, epoch, seq);
    if (!bytes) {
      this.send(remote, { t: "fetch-failed", vmId, epoch, seq, reason: "not held here" });
      return;
    }
    const sha256 = await sha256Hex(bytes);
    await this.o.transfers
      .send(remote, { purpose: "checkpoint", vmId, epoch, seq, sha256 }, bytes)
      .catch(() => {});
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
    h.cancelCheckpoint?.();
    const engine = h.engine;
    h.engine = null;
    this.status(h, state, detail);
    await engine?.stop().catch(() => {});
    this.changed();
  }
}
