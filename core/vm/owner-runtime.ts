// The owner's side of remote VMs: creates VMs (record and key), places them on
// contributors with signed leases, hands the key only to the chosen host (sealed
// to it), keeps the checkpoints the host sends, watches the host and moves the
// VM (epoch + 1) when the host goes away, and attaches shells from any tab.
// Only one tab of an owner manages placement at a time (the leader); the others
// read the document and attach shells.

import type { Identity } from "../crypto/identity.ts";
import { type SignedEntry, signEntry } from "../crypto/signed.ts";
import { createVmKey, exportVmKey, importVmKey, sealTo } from "../crypto/vm-crypto.ts";
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { TransferOffer, TransferProgress, Transfers } from "../net/transfer.ts";
import type { KeyValueStore } from "../state/storage.ts";
import {
  ATTACH_KIND,
  type CheckpointRecord,
  LEASE_KIND,
  type Lease,
  leaseKey,
  VM_KIND,
  type VmBook,
  type VmRecord,
  vmIdFor,
} from "../state/vm-records.ts";
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { randomHex } from "../util/hex.ts";
import { vmKeyContext } from "./host-runtime.ts";
import type { HostCandidate } from "./placement.ts";
import { rankHosts } from "./placement.ts";
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

export type OwnedState = "placing" | "starting" | "running" | "moving" | "stopped" | "waiting" | "failed";

export interface OwnedVm {
  vmId: string;
  name: string;
  createdAt: number;
  state: OwnedState;
  host: PeerAddress | null;
  epoch: number;
  detail: string;
  lastCheckpoint: { epoch: number; seq: number; createdAt: number; bytes: number } | null;
  transfer: { direction: "in" | "out"; done: number; total: number } | null;
}

interface StoredCheckpoint {
  epoch: number;
  seq: number;
  sha256: string;
  sealed: Uint8Array;
  entry: SignedEntry<CheckpointRecord> | null;
}

export interface ShellHandlers {
  output(bytes: Uint8Array): void;
  /** What the console showed before this tab attached (sent on every (re)attach). */
  transcript(text: string): void;
  status(state: OwnedState, host: PeerAddress | null, detail: string): void;
}

export interface ShellSession {
  input(bytes: Uint8Array): void;
  rttMs(): number | null;
  host(): PeerAddress | null;
  detach(): void;
}

export interface OwnerRuntimeOptions {
  identity: Identity;
  mesh: MeshPort;
  book: VmBook;
  transfers: Transfers;
  clock: Clock;
  /** VM keys (never in the document), by VM id. */
  keys: KeyValueStore;
  /** The newest sealed checkpoints of this owner's VMs. */
  checkpoints: KeyValueStore;
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

interface OwnerEvents {
  change: () => void;
}

interface StatusWaiter {
  host: PeerAddress;
  done: (state: HostedState, detail: string) => void;
}

const enc = (text: string) => new TextEncoder().encode(text);

export class OwnerRuntime {
  private readonly events = new Emitter<OwnerEvents>();
  private readonly views = new Map<string, OwnedVm>();
  private readonly placing = new Set<string>();
  /** This owner's newest signed record of each VM, to put back when someone overwrites it. */
  private readonly own = new Map<string, SignedEntry<VmRecord>>();
  private readonly lastSeen = new Map<string, number>();
  private readonly statusWaiters = new Map<string, StatusWaiter>();
  private readonly sessions = new Set<SessionState>();
  private readonly off: (() => void)[] = [];
  private cancelTick: (() => void) | null = null;
  private readonly startedAtMs: number;
  private readonly now: () => number;
  private running = true;
  private readonly vmChannel: PeerChannel;
  private readonly shell: PeerChannel;

  constructor(private readonly o: OwnerRuntimeOptions) {
    this.now = o.now ?? Date.now;
    this.startedAtMs = this.now();
    this.vmChannel = o.mesh.channel(VM_PROTOCOL);
    this.shell = o.mesh.channel(SHELL_PROTOCOL);
    this.off.push(
      this.vmChannel.on("message", (remote, payload) => this.onMessage(remote, payload)),
      this.shell.on("message", (remote, payload) => this.onShell(remote, payload)),
      o.book.observe(() => void this.refresh()),
      o.transfers.on("received", (remote, offer, bytes) => void this.onReceived(remote, offer, bytes)),
      o.transfers.on("progress", (p) => this.onProgress(p)),
    );
    this.scheduleTick();
    void this.refresh();
  }

  on<K extends keyof OwnerEvents>(event: K, handler: OwnerEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  dispose(): void {
    this.running = false;
    for (const off of this.off.splice(0)) off();
    this.cancelTick?.();
    for (const s of this.sessions) s.close();
    this.events.clear();
  }

  list(): OwnedVm[] {
    return [...this.views.values()].sort((a, b) => a.createdAt - b.createdAt).map((v) => ({ ...v }));
  }

  get(vmId: string): OwnedVm | null {
    const v = this.views.get(vmId);
    return v ? { ...v } : null;
  }

  private changed(): void {
    this.events.emit("change");
  }

  private view(vmId: string): OwnedVm | undefined {
    return this.views.get(vmId);
  }

  private update(vmId: string, patch: Partial<OwnedVm>): void {
    const v = this.views.get(vmId);
    if (!v) return;
    Object.assign(v, patch);
    for (const s of this.sessions) if (s.vmId === vmId) s.handlers.status(v.state, v.host, v.detail);
    this.changed();
  }

  // ---- Creating and controlling VMs

  async create(name: string): Promise<string> {
    const { identity } = this.o;
    const nonce = randomHex(16);
    const vmId = await vmIdFor(identity.peerId, nonce);
    const key = await createVmKey();
    // The key is stored before anything else exists: no VM without its key.
    await this.o.keys.set(vmId, await exportVmKey(key));
    const at = this.now();
    const record: VmRecord = {
      vmId,
      nonce,
      owner: identity.peerId,
      name: name.trim().slice(0, 60) || `vm-${vmId.slice(0, 6)}`,
      imageId: this.o.imageId,
      memoryBytes: this.o.memoryBytes,
      createdAt: at,
      deleted: false,
      updatedAt: at,
    };
    const entry = await signEntry(identity, VM_KIND, record);
    this.own.set(vmId, entry);
    this.o.book.vms.set(vmId, entry);
    this.views.set(vmId, this.blankView(record, "placing"));
    this.changed();
    void this.place(vmId, "start", new Set());
    return vmId;
  }

  async start(vmId: string): Promise<void> {
    await this.place(vmId, "start", new Set());
  }

  /** Stops the VM after a last checkpoint; its state stays with its owner and replicas. */
  async stop(vmId: string): Promise<void> {
    const current = await this.currentLease(vmId);
    if (current?.host) await this.flush(vmId, current.host);
    await this.writeLease(vmId, null);
    this.update(vmId, { state: "stopped", host: null, detail: "stopped by you" });
  }

  /** Moves the VM to another contributor (after a last checkpoint). */
  async move(vmId: string): Promise<void> {
    const current = await this.currentLease(vmId);
    if (current?.host) await this.flush(vmId, current.host);
    await this.place(vmId, "move", new Set(current?.host ? [current.host] : []));
  }

  async remove(vmId: string): Promise<void> {
    const vm = await this.o.book.vm(vmId);
    if (!vm || vm.vm.owner !== this.o.identity.peerId) return;
    await this.writeLease(vmId, null);
    const record: VmRecord = {
      ...vm.vm,
      deleted: true,
      updatedAt: Math.max(this.now(), vm.vm.updatedAt + 1),
    };
    const entry = await signEntry(this.o.identity, VM_KIND, record);
    this.own.set(vmId, entry);
    this.o.book.vms.set(vmId, entry);
    await this.o.checkpoints.delete(vmId);
    await this.o.keys.delete(vmId);
    this.views.delete(vmId);
    this.changed();
  }

  /** The newest sealed checkpoint this tab holds (what "download" saves). */
  async sealedSnapshot(vmId: string): Promise<{ bytes: Uint8Array; epoch: number; seq: number } | null> {
    const newest = (await this.stored(vmId))[0];
    return newest ? { bytes: newest.sealed, epoch: newest.epoch, seq: newest.seq } : null;
  }

  private async currentLease(vmId: string): Promise<Lease | null> {
    return (await this.o.book.currentLease(vmId, this.o.identity.peerId))?.lease ?? null;
  }

  private async writeLease(vmId: string, host: PeerAddress | null): Promise<Lease> {
    const current = await this.currentLease(vmId);
    const lease: Lease = { vmId, epoch: (current?.epoch ?? 0) + 1, host, issuedAt: this.now() };
    this.o.book.leases.set(leaseKey(vmId, lease.epoch), await signEntry(this.o.identity, LEASE_KIND, lease));
    return lease;
  }

  /** Asks the host for a checkpoint now and waits (briefly) for it to land. */
  private async flush(vmId: string, host: PeerAddress): Promise<void> {
    if (!this.o.mesh.isOpen(host)) return;
    const before = (await this.stored(vmId))[0];
    this.send(host, { t: "flush", vmId });
    for (let waited = 0; waited < 20_000; waited += 200) {
      const newest = (await this.stored(vmId))[0];
      if (newest && (!before || newest.seq !== before.seq || newest.epoch !== before.epoch)) return;
      if (!this.o.mesh.isOpen(host)) return;
      await new Promise<void>((r) => this.o.clock.after(200, r));
    }
  }

  // ---- Placement

  /** Picks a host, signs a lease, hands over the key and waits until the VM runs there. */
  private async place(
    vmId: string,
    reason: "start" | "move" | "failover",
    exclude: Set<PeerAddress>,
  ): Promise<void> {
    if (this.placing.has(vmId) || !this.o.isLeader()) return;
    this.placing.add(vmId);
    try {
      const vm = await this.o.book.vm(vmId);
      if (!vm || vm.vm.deleted || vm.vm.owner !== this.o.identity.peerId) return;
      if (!this.views.has(vmId)) this.views.set(vmId, this.blankView(vm.vm, "placing"));
      const keyText = (await this.o.keys.get(vmId)) as string | undefined;
      if (!keyText) {
        this.update(vmId, {
          state: "failed",
          detail: "this device does not hold the VM's key (import your identity file)",
        });
        return;
      }
      const key = await importVmKey(keyText);
      // After a move, the explanation (why, and from which checkpoint) stays visible.
      const why = reason === "failover" ? (this.view(vmId)?.detail ?? "") : "";
      for (const p of this.o.mesh.openLinks()) if (peerIdOf(p) === this.o.identity.peerId) exclude.add(p);
      exclude.add(this.o.mesh.self);
      for (let attempt = 0; attempt < 6 && this.running; attempt++) {
        const offers = rankHosts(
          { vmId, memoryBytes: vm.vm.memoryBytes, exclude, pending: await this.pendingByHost(vmId) },
          await this.o.candidates(),
        );
        const host = offers[0]?.host;
        if (!host) {
          this.update(vmId, { state: "waiting", host: null, detail: "waiting for a contributor with room" });
          return;
        }
        const lease = await this.writeLease(vmId, host);
        this.lastSeen.set(vmId, this.now());
        this.update(vmId, {
          state: reason === "start" ? "starting" : "moving",
          host,
          epoch: lease.epoch,
          detail: reason === "failover" ? (this.view(vmId)?.detail ?? "") : "",
        });
        const outcome = await this.handOver(vm.vm, lease, key, host);
        if (outcome.state === "running") {
          this.update(vmId, {
            state: "running",
            host,
            detail: [why, outcome.detail].filter(Boolean).join("; "),
          });
          return;
        }
        exclude.add(host);
        this.update(vmId, { detail: `${host.slice(0, 8)}: ${outcome.detail}` });
        if (outcome.detail.startsWith("no checkpoint could be restored")) {
          this.update(vmId, { state: "failed" });
          return;
        }
      }
      this.update(vmId, { state: "waiting" });
    } finally {
      this.placing.delete(vmId);
    }
  }

  private async pendingByHost(except: string): Promise<Map<PeerAddress, number>> {
    const pending = new Map<PeerAddress, number>();
    for (const v of this.views.values()) {
      if (v.vmId !== except && v.host && (v.state === "starting" || v.state === "moving")) {
        pending.set(v.host, (pending.get(v.host) ?? 0) + 1);
      }
    }
    return pending;
  }

  private async handOver(
    vm: VmRecord,
    lease: Lease,
    key: CryptoKey,
    host: PeerAddress,
  ): Promise<{ state: HostedState; detail: string }> {
    const { mesh, clock } = this.o;
    mesh.pin(host);
    for (let waited = 0; !mesh.isOpen(host); waited += 100) {
      if (waited > (this.o.linkTimeoutMs ?? 10_000))
        return { state: "failed", detail: "no link to the host" };
      await new Promise<void>((r) => clock.after(100, r));
    }
    const boxKey = await this.o.boxKeyOf(host);
    if (!boxKey) return { state: "failed", detail: "the host has no key to seal to" };
    const sealedKey = await sealTo(boxKey, enc(await exportVmKey(key)), vmKeyContext(vm.vmId, lease.epoch));
    const vmEntry = this.o.book.vms.get(vm.vmId) as SignedEntry<VmRecord>;
    const leaseEntry = this.o.book.leases.get(leaseKey(vm.vmId, lease.epoch)) as SignedEntry<Lease>;
    const restore = await this.restoreList(vm.vmId);
    const waitKey = `${vm.vmId}/${lease.epoch}`;
    const result = new Promise<{ state: HostedState; detail: string }>((resolve) => {
      let cancel = clock.after(this.o.startTimeoutMs ?? 60_000, () =>
        finish("failed", "the host did not start it in time"),
      );
      const finish = (state: HostedState, detail: string) => {
        if (state === "restoring") {
          // Still working (fetching the checkpoint): give it more time.
          cancel();
          cancel = clock.after(this.o.startTimeoutMs ?? 60_000, () =>
            finish("failed", "restoring took too long"),
          );
          this.update(vm.vmId, { detail: detail || "restoring" });
          return;
        }
        cancel();
        this.statusWaiters.delete(waitKey);
        resolve({ state, detail });
      };
      this.statusWaiters.set(waitKey, { host, done: finish });
    });
    this.send(host, { t: "start", vm: vmEntry, lease: leaseEntry, key: sealedKey, restore });
    return result;
  }

  /** Checkpoints to restore from, newest first: the document's newest and what this tab holds. */
  private async restoreList(vmId: string): Promise<SignedEntry<CheckpointRecord>[]> {
    const entries: SignedEntry<CheckpointRecord>[] = [];
    const seen = new Set<string>();
    const add = (e: SignedEntry<CheckpointRecord> | null) => {
      if (!e) return;
      const id = `${e.payload.epoch}/${e.payload.seq}`;
      if (!seen.has(id)) {
        seen.add(id);
        entries.push(e);
      }
    };
    add((await this.o.book.latestCheckpoint(vmId, this.o.identity.peerId))?.entry ?? null);
    for (const s of await this.stored(vmId)) add(s.entry);
    entries.sort((a, b) => b.payload.epoch - a.payload.epoch || b.payload.seq - a.payload.seq);
    return entries.slice(0, 3);
  }

  // ---- Watching hosts

  private scheduleTick(): void {
    this.cancelTick = this.o.clock.after(this.o.tickMs ?? 1000, () => {
      void this.tick().finally(() => {
        if (this.running) this.scheduleTick();
      });
    });
  }

  private async tick(): Promise<void> {
    if (!this.o.isLeader()) return;
    const grace = this.o.graceMs ?? 4000;
    for (const { vm } of await this.myVms()) {
      if (vm.deleted || this.placing.has(vm.vmId)) continue;
      const lease = await this.currentLease(vm.vmId);
      if (!lease) {
        void this.place(vm.vmId, "start", new Set());
        continue;
      }
      if (lease.host === null) continue;
      this.o.mesh.pin(lease.host);
      if (this.o.mesh.isOpen(lease.host)) {
        this.lastSeen.set(vm.vmId, this.now());
        const v = this.view(vm.vmId);
        if (v && v.state !== "running" && v.host === lease.host && v.epoch === lease.epoch) continue;
        if (v && (v.host !== lease.host || v.epoch !== lease.epoch)) {
          // Another tab placed it, or this tab just came back: ask the host how it is.
          void this.attachQuietly(vm.vmId, lease.host);
          this.update(vm.vmId, { host: lease.host, epoch: lease.epoch });
        }
        continue;
      }
      const seen = Math.max(this.lastSeen.get(vm.vmId) ?? 0, this.startedAtMs, lease.issuedAt);
      if (this.now() - seen > grace) this.failover(vm.vmId, lease.host, "the host stopped answering");
    }
  }

  private failover(vmId: string, from: PeerAddress, why: string): void {
    const cameBack = this.now() - this.startedAtMs < 30_000;
    const newest = this.view(vmId)?.lastCheckpoint;
    const age = newest ? `${Math.round((this.now() - newest.createdAt) / 1000)} s` : "unknown";
    const detail = cameBack
      ? `the host went away while you were offline: resuming from the checkpoint taken ${age} ago`
      : `${why}: moving it, resuming from the checkpoint taken ${age} ago`;
    this.update(vmId, { state: "moving", detail });
    this.o.mesh.unpin(from);
    void this.place(vmId, "failover", new Set([from]));
  }

  private async attachQuietly(vmId: string, host: PeerAddress): Promise<void> {
    const grant = await signEntry(this.o.identity, ATTACH_KIND, {
      vmId,
      host,
      viewer: this.o.mesh.self,
      at: this.now(),
    });
    this.send(host, { t: "attach", grant });
  }

  // ---- Messages

  private send(remote: PeerAddress, message: VmMessage): boolean {
    return this.vmChannel.send(remote, encodeVmMessage(message));
  }

  private onShell(remote: PeerAddress, payload: Uint8Array): void {
    const shell = parseShell(payload);
    if (!shell) return;
    for (const s of this.sessions)
      if (s.vmId === shell.vmId && s.currentHost === remote) s.handlers.output(shell.bytes);
  }

  private onMessage(remote: PeerAddress, payload: Uint8Array): void {
    const m = parseVmMessage(payload);
    if (!m) return;
    switch (m.t) {
      case "status": {
        const waiter = this.statusWaiters.get(`${m.vmId}/${m.epoch}`);
        if (waiter?.host === remote) waiter.done(m.state, m.detail);
        const v = this.view(m.vmId);
        if (v && v.host === remote && v.epoch === m.epoch && !this.placing.has(m.vmId)) {
          const state: OwnedState =
            m.state === "running" ? "running" : m.state === "restoring" ? "starting" : v.state;
          this.update(m.vmId, { state, detail: m.detail || v.detail });
        }
        return;
      }
      case "attached":
        // Only the first answer from a host counts: it replaces what the terminal shows.
        for (const s of this.sessions)
          if (s.vmId === m.vmId && s.confirmed(remote)) s.handlers.transcript(m.transcript);
        return;
      case "leaving":
        for (const vmId of m.vmIds) {
          const v = this.view(vmId);
          if (v?.host === remote && this.o.isLeader()) this.failover(vmId, remote, "the host is closing");
        }
        return;
      case "fetch":
        void this.serveFetch(remote, m.vmId, m.epoch, m.seq);
        return;
      default:
        return;
    }
  }

  // ---- Checkpoints kept by the owner

  private async stored(vmId: string): Promise<StoredCheckpoint[]> {
    const list = (await this.o.checkpoints.get(vmId)) as StoredCheckpoint[] | undefined;
    return Array.isArray(list) ? list : [];
  }

  /** Takes checkpoints of this owner's VMs from their current host. */
  async acceptOffer(remote: PeerAddress, offer: TransferOffer): Promise<boolean> {
    const meta = offer.meta as { purpose?: string; vmId?: string; epoch?: number };
    if (meta?.purpose !== "checkpoint" || typeof meta.vmId !== "string") return false;
    const vm = await this.o.book.vm(meta.vmId);
    if (!vm || vm.vm.owner !== this.o.identity.peerId || vm.vm.deleted) return false;
    const lease = await this.o.book.leasesOf(meta.vmId, this.o.identity.peerId);
    return lease.some((l) => l.lease.host === remote && l.lease.epoch === meta.epoch);
  }

  private async onReceived(remote: PeerAddress, offer: TransferOffer, sealed: Uint8Array): Promise<void> {
    const meta = offer.meta as { purpose?: string; vmId?: string; epoch?: number; seq?: number };
    if (meta?.purpose !== "checkpoint" || typeof meta.vmId !== "string") return;
    if (!(await this.acceptOffer(remote, offer))) return;
    const list = await this.stored(meta.vmId);
    const item: StoredCheckpoint = {
      epoch: meta.epoch ?? 0,
      seq: meta.seq ?? 0,
      sha256: offer.sha256,
      sealed,
      entry: null,
    };
    const next = [item, ...list.filter((c) => c.epoch !== item.epoch || c.seq !== item.seq)]
      .sort((a, b) => b.epoch - a.epoch || b.seq - a.seq)
      .slice(0, 2);
    await this.o.checkpoints.set(meta.vmId, next);
    this.update(meta.vmId, { transfer: null });
    void this.refresh();
  }

  private onProgress(p: TransferProgress): void {
    const meta = p.meta as { purpose?: string; vmId?: string };
    if (meta?.purpose !== "checkpoint" || typeof meta.vmId !== "string" || !this.views.has(meta.vmId)) return;
    const done = p.done >= p.total;
    this.update(meta.vmId, {
      transfer: done ? null : { direction: p.direction, done: p.done, total: p.total },
    });
  }

  private async serveFetch(remote: PeerAddress, vmId: string, epoch: number, seq: number): Promise<void> {
    const item = (await this.stored(vmId)).find((c) => c.epoch === epoch && c.seq === seq);
    if (!item) {
      this.send(remote, { t: "fetch-failed", vmId, epoch, seq, reason: "not held by the owner" });
      return;
    }
    const meta = { purpose: "checkpoint", vmId, epoch, seq, sha256: item.sha256 };
    await this.o.transfers.send(remote, meta, item.sealed).catch(() => {});
  }

  // ---- Views from the document

  private async myVms() {
    return (await this.o.book.allVms()).filter((v) => v.vm.owner === this.o.identity.peerId);
  }

  private blankView(vm: VmRecord, state: OwnedState): OwnedVm {
    return {
      vmId: vm.vmId,
      name: vm.name,
      createdAt: vm.createdAt,
      state,
      host: null,
      epoch: 0,
      detail: "",
      lastCheckpoint: null,
      transfer: null,
    };
  }

  private refreshing = false;

  /** Brings the views in line with the document (records, leases, checkpoint records). */
  private refreshAgain = false;

  private async refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true; // a change came in during a refresh: run once more after it
      return;
    }
    this.refreshing = true;
    try {
      // Put back our records where someone overwrote them with something that does not verify.
      for (const [vmId, entry] of this.own) {
        const inDoc = await this.o.book.vm(vmId);
        if (!inDoc || inDoc.vm.owner !== this.o.identity.peerId) this.o.book.vms.set(vmId, entry);
        else if (inDoc.vm.updatedAt > entry.payload.updatedAt) this.own.set(vmId, inDoc.entry);
      }
      for (const { vm, entry } of await this.myVms()) {
        if ((this.own.get(vm.vmId)?.payload.updatedAt ?? -1) < vm.updatedAt) this.own.set(vm.vmId, entry);
        if (vm.deleted) {
          if (this.views.delete(vm.vmId)) this.changed();
          continue;
        }
        if (!this.views.has(vm.vmId)) this.views.set(vm.vmId, this.blankView(vm, "placing"));
        const v = this.views.get(vm.vmId)!;
        v.name = vm.name;
        const lease = await this.currentLease(vm.vmId);
        if (lease && !this.placing.has(vm.vmId)) {
          if (lease.host === null) Object.assign(v, { state: "stopped", host: null, epoch: lease.epoch });
          else if (lease.epoch > v.epoch)
            Object.assign(v, { host: lease.host, epoch: lease.epoch, state: "starting" });
        }
        const latest = await this.o.book.latestCheckpoint(vm.vmId, this.o.identity.peerId);
        if (latest) {
          const r = latest.record;
          v.lastCheckpoint = { epoch: r.epoch, seq: r.seq, createdAt: r.createdAt, bytes: r.bytes };
          // Pair the record with the bytes this tab holds.
          const list = await this.stored(vm.vmId);
          const match = list.find((c) => c.epoch === r.epoch && c.seq === r.seq && c.sha256 === r.sha256);
          if (match && !match.entry) {
            match.entry = latest.entry;
            await this.o.checkpoints.set(vm.vmId, list);
          }
        }
      }
      this.changed();
    } finally {
      this.refreshing = false;
      if (this.refreshAgain && this.running) {
        this.refreshAgain = false;
        void this.refresh();
      }
    }
  }

  // ---- Shell

  /** Attaches a console to the VM on whichever host runs it, and follows it when it moves. */
  attach(vmId: string, handlers: ShellHandlers): ShellSession {
    const session = new SessionState(this, vmId, handlers);
    this.sessions.add(session);
    session.onClose = () => this.sessions.delete(session);
    void session.follow();
    return session;
  }

  /** Internal: what sessions use. */
  async sessionTarget(vmId: string): Promise<PeerAddress | null> {
    const lease = await this.currentLease(vmId);
    return lease?.host ?? null;
  }

  async grantTo(vmId: string, host: PeerAddress): Promise<void> {
    this.o.mesh.pin(host);
    for (let waited = 0; !this.o.mesh.isOpen(host) && waited < 10_000; waited += 100) {
      await new Promise<void>((r) => this.o.clock.after(100, r));
    }
    await this.attachQuietly(vmId, host);
  }

  sendDetach(host: PeerAddress, vmId: string): void {
    this.send(host, { t: "detach", vmId });
  }

  sendInput(host: PeerAddress, vmId: string, bytes: Uint8Array): void {
    this.shell.send(host, encodeShell(vmId, bytes));
  }

  later(ms: number, fn: () => void): () => void {
    return this.o.clock.after(ms, fn);
  }

  rttTo(host: PeerAddress): number | null {
    return this.o.mesh.rttMs(host);
  }

  sessionEvents(fn: () => void): () => void {
    return this.events.on("change", fn);
  }
}

/**
 * One tab's console on one VM. It asks the host for the console until the host
 * confirms (a host that is still restoring ignores it), and again whenever the
 * VM moves to another host.
 */
class SessionState implements ShellSession {
  currentHost: PeerAddress | null = null;
  /** The host that confirmed this tab as a viewer. */
  attachedTo: PeerAddress | null = null;
  onClose: () => void = () => {};
  private offChange: (() => void) | null = null;
  private cancelRetry: (() => void) | null = null;
  private closed = false;
  private asking = false;

  constructor(
    private readonly runtime: OwnerRuntime,
    readonly vmId: string,
    readonly handlers: ShellHandlers,
  ) {}

  async follow(): Promise<void> {
    this.offChange = this.runtime.sessionEvents(() => void this.check());
    await this.check();
  }

  /** The host said yes; true the first time (later answers repeat it). */
  confirmed(host: PeerAddress): boolean {
    if (host !== this.currentHost || this.attachedTo === host) return false;
    this.attachedTo = host;
    return true;
  }

  private async check(): Promise<void> {
    if (this.closed || this.asking) return;
    const target = await this.runtime.sessionTarget(this.vmId);
    if (target !== this.currentHost) {
      this.currentHost = target;
      this.attachedTo = null;
    }
    if (!target || this.attachedTo === target) return;
    this.asking = true;
    try {
      await this.runtime.grantTo(this.vmId, target);
    } finally {
      this.asking = false;
    }
    this.cancelRetry?.();
    this.cancelRetry = this.runtime.later(1000, () => {
      this.cancelRetry = null;
      void this.check();
    });
  }

  host(): PeerAddress | null {
    return this.currentHost;
  }

  input(bytes: Uint8Array): void {
    if (this.currentHost) this.runtime.sendInput(this.currentHost, this.vmId, bytes);
  }

  rttMs(): number | null {
    return this.currentHost ? this.runtime.rttTo(this.currentHost) : null;
  }

  detach(): void {
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.offChange?.();
    this.cancelRetry?.();
    if (this.currentHost) this.runtime.sendDetach(this.currentHost, this.vmId);
    this.onClose();
  }
}
