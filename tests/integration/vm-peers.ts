// Peers with VM services on the in-memory network, for the remote-VM and the
// hostile-case tests: real runtimes, a fake engine that seals with the real keys,
// and a count of every engine each host started (live at once, and the keys it
// sealed checkpoints with).
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { searchStamp } from "../../core/ledger/stamp.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import { type PeerAddress, peerAddress } from "../../core/net/peer-address.ts";
import { Transfers } from "../../core/net/transfer.ts";
import { PeerNode } from "../../core/peer/peer-node.ts";
import { MemoryStore } from "../../core/state/storage.ts";
import { systemClock } from "../../core/util/clock.ts";
import { CheckpointExchange } from "../../core/vm/checkpoint-exchange.ts";
import { parseVmMessage, VM_PROTOCOL, type VmMessage } from "../../core/vm/vm-protocol.ts";
import { startVmServices, type VmServices, type VmServicesOptions } from "../../core/vm/vm-services.ts";
import { eventually } from "../helpers/eventually.ts";
import { fakeEngine, running } from "./fake-engine.ts";

export const IMAGE = "test-image";

export interface Peer {
  identity: Identity;
  node: PeerNode;
  vm: VmServices;
  contributing: boolean;
  stores: { keys: MemoryStore; checkpoints: MemoryStore; replicas: MemoryStore };
  stop(): Promise<void>;
}

export const peers: Peer[] = [];

/**
 * Every engine the hosts start, counted at each start and stop: `maxLive` is the
 * most that were ever running at once (between a finished start and a stop), so
 * an overlap of any length shows, however short; and the keys each host sealed
 * checkpoints with.
 */
export const engines = {
  live: 0,
  maxLive: 0,
  created: new Map<PeerAddress, number>(),
  sealedWith: new Map<PeerAddress, { key: CryptoKey; context: string }[]>(),
  /** Whether each engine a host started was told its guest may reach the internet, in order. */
  outbound: new Map<PeerAddress, boolean[]>(),
  reset() {
    this.live = this.maxLive = 0;
    this.created.clear();
    this.outbound.clear();
    this.sealedWith.clear();
  },
  factory(peer: () => PeerAddress, instructionsPerLine?: number): VmServicesOptions["createEngine"] {
    return () => {
      const inner = fakeEngine({ instructionsPerLine });
      this.created.set(peer(), (this.created.get(peer()) ?? 0) + 1);
      let live = false;
      return {
        ...inner,
        start: async (options) => {
          this.outbound.set(peer(), [...(this.outbound.get(peer()) ?? []), options.outbound === true]);
          await inner.start(options);
          live = true;
          this.live++;
          this.maxLive = Math.max(this.maxLive, this.live);
        },
        stop: async () => {
          if (live) {
            live = false;
            this.live--;
          }
          await inner.stop();
        },
        checkpoint: async (key, context) => {
          const list = this.sealedWith.get(peer()) ?? [];
          list.push({ key, context });
          this.sealedWith.set(peer(), list);
          return inner.checkpoint(key, context);
        },
      };
    };
  },
};

export async function stopAll(): Promise<void> {
  for (const s of strangers.splice(0)) await s.stop();
  for (const p of peers.splice(0)) await p.stop();
  running.clear();
  engines.reset();
}

export interface PeerOptions {
  contributing?: boolean;
  slots?: number;
  identity?: Identity;
  stores?: Peer["stores"];
  checkpointIntervalMs?: number;
  replicaMaxBytes?: number;
  /** Whether the peer earns its starting allowance (a stamp at TEST_STAMP_BITS) first; default true. */
  allowance?: boolean;
  /** The stamp difficulty this peer accepts (default TEST_STAMP_BITS). */
  stampBits?: number;
  /** What each command typed costs its fake guest, in instructions (default 1000: nothing to speak of). */
  instructionsPerLine?: number;
  paymentGraceMs?: number;
  meterIntervalMs?: number;
  /** Whether this tab leads its owner's tabs (and so places VMs and signs receipts); default always. */
  isLeader?: () => boolean;
  webLimits?: VmServicesOptions["webLimits"];
  /** Whether the VMs this peer hosts may reach the internet (default off). */
  outboundAllowed?: boolean;
  /** What this peer sends for its VMs, in KiB/s (default unlimited). */
  bandwidthCapKiBps?: number;
  lanLimits?: VmServicesOptions["lanLimits"];
  /** The memory this peer offers its hosted VMs (default 4096 MiB). */
  memoryMiB?: number;
}

/** The stamp difficulty the integration peers use: a stamp in a few hundred tries. */
export const TEST_STAMP_BITS = 6;

/** Finds and publishes a stamp for the peer's key: its starting allowance. */
export async function earnAllowance(node: PeerNode, bits = TEST_STAMP_BITS): Promise<void> {
  let stamp = null;
  for (let from = 0; !stamp; from += 4096) stamp = searchStamp(node.identity.publicKey, bits, from, 4096);
  await node.credits.publishStamp(stamp);
}

export async function addPeer(
  hub: MemorySignalingHub,
  network: MemoryNetwork,
  options: PeerOptions = {},
): Promise<Peer> {
  const identity = options.identity ?? (await createIdentity());
  const session = Math.random().toString(36).slice(2, 8);
  const info = { peer: peerAddress(identity.peerId, session), publicKey: identity.publicKey };
  const stores = options.stores ?? {
    keys: new MemoryStore(),
    checkpoints: new MemoryStore(),
    replicas: new MemoryStore(),
  };
  let vm: VmServices | null = null;
  const peer: Peer = {
    identity,
    contributing: options.contributing ?? false,
    stores,
    node: null as unknown as PeerNode,
    vm: null as unknown as VmServices,
    async stop() {
      await vm?.dispose();
      node.stop();
    },
  };
  const node = new PeerNode({
    identity,
    signaling: hub.connect(info),
    linkFactory: network.factory(info.peer),
    clock: systemClock,
    stampBits: options.stampBits ?? TEST_STAMP_BITS,
    mesh: { targetDegree: 6, maxDegree: 12, maintainIntervalMs: 200 },
    presenceIntervalMs: 500,
    presence: () => ({
      name: "",
      appVersion: "test",
      capacity: {
        contributing: peer.contributing,
        cores: 2,
        memoryMiB: options.memoryMiB ?? 4096,
        budgetPct: 50,
        slots: options.slots ?? 2,
      },
      load: { vms: vm?.host.count() ?? 0, usedPct: 0 },
    }),
  });
  node.start();
  if (options.allowance ?? true) await earnAllowance(node);
  vm = startVmServices(node, {
    clock: systemClock,
    createEngine: engines.factory(() => node.self, options.instructionsPerLine),
    ...stores,
    hostSettings: () => ({
      slots: options.slots ?? 2,
      memoryMiB: options.memoryMiB ?? 4096,
      budgetPct: 50,
      checkpointIntervalMs: options.checkpointIntervalMs ?? 300,
      meterIntervalMs: options.meterIntervalMs ?? 200,
      ...(options.paymentGraceMs !== undefined && { paymentGraceMs: options.paymentGraceMs }),
      outboundAllowed: options.outboundAllowed === true,
      bandwidthCapKiBps: options.bandwidthCapKiBps ?? null,
    }),
    imageId: IMAGE,
    memoryBytes: 96 * 1024 * 1024,
    isLeader: options.isLeader ?? (() => true),
    webLimits: options.webLimits,
    lanLimits: options.lanLimits,
    owner: { graceMs: 600, tickMs: 100, startTimeoutMs: 5000 },
    ...(options.replicaMaxBytes !== undefined && { replicaMaxBytes: options.replicaMaxBytes }),
  });
  vm.host.setAccepting(peer.contributing);
  vm.host.on("change", () => void node.publishPresence());
  peer.node = node;
  peer.vm = vm;
  peers.push(peer);
  return peer;
}

/** Everyone sees everyone's presence (so placement has candidates). */
export async function settled(all: Peer[]): Promise<void> {
  await eventually("presence everywhere", async () => {
    for (const p of all) {
      const views = await p.node.peers();
      if (views.filter((v) => v.presence).length < all.length) return false;
    }
    return true;
  });
}

export const hostOf = (owner: Peer, vmId: string) => owner.vm.owner.get(vmId)?.host ?? null;
export const runningOn = (host: Peer, vmId: string) =>
  host.vm.host.vms().some((v) => v.vmId === vmId && v.state === "running");

/** Opens the VM's shell on `owner`; resolves once the host has sent its transcript (the grant holds). */
export async function attachShell(owner: Peer, vmId: string) {
  let attached = false;
  const session = owner.vm.owner.attach(vmId, {
    output: () => {},
    transcript: () => {
      attached = true;
    },
    status: () => {},
  });
  await eventually("attached", () => attached);
  return session;
}

/** Types `set NAME VALUE` into the VM's console; resolves once the VM holds the file. */
export async function setFile(owner: Peer, host: Peer, vmId: string, name: string, value: string) {
  const session = await attachShell(owner, vmId);
  await eventually("attached to the host", () => session.host() === host.node.self);
  session.input(new TextEncoder().encode(`set ${name} ${value}\r`));
  await eventually("the VM holds the file", () =>
    [...running].some((m) => m.running && m.files[name] === value),
  );
  session.detach();
}

export interface HeldCheckpoint {
  epoch: number;
  seq: number;
  sealed: Uint8Array;
  entry: unknown;
}

/** The sealed checkpoints the owner's store holds of a VM. */
export async function ownerHeld(owner: Peer, vmId: string): Promise<HeldCheckpoint[]> {
  return ((await owner.stores.checkpoints.get(vmId)) as HeldCheckpoint[] | undefined) ?? [];
}

/** Waits until the owner holds `count` more checkpoints of epoch `epoch` than it did (by seq). */
export async function moreCheckpoints(owner: Peer, vmId: string, epoch: number, count = 2): Promise<void> {
  const newest = async () =>
    Math.max(0, ...(await ownerHeld(owner, vmId)).filter((c) => c.epoch === epoch).map((c) => c.seq));
  const from = await newest();
  await eventually(
    `${count} more checkpoints of epoch ${epoch}`,
    async () => (await newest()) >= from + count,
  );
}

/** The next VM message `to` receives from `from`. */
export function nextVmMessage(to: Peer, from: Peer, match: (m: VmMessage) => boolean): Promise<VmMessage> {
  return new Promise((resolve) => {
    const off = to.node.mesh.channel(VM_PROTOCOL).on("message", (remote, payload) => {
      const m = parseVmMessage(payload);
      if (remote !== from.node.self || !m || !match(m)) return;
      off();
      resolve(m);
    });
  });
}

/** A room: an owner and two contributors (plus `extra` other peers), all seeing each other. */
export async function room(extra: PeerOptions[] = [], contributor: PeerOptions = {}) {
  const hub = new MemorySignalingHub();
  const network = new MemoryNetwork();
  const owner = await addPeer(hub, network);
  const a = await addPeer(hub, network, { contributing: true, ...contributor });
  const b = await addPeer(hub, network, { contributing: true, ...contributor });
  const others: Peer[] = [];
  for (const o of extra) others.push(await addPeer(hub, network, o));
  await settled([owner, a, b, ...others]);
  return { hub, network, owner, a, b, others };
}

/** Creates a VM on `owner` and waits until it runs; which contributor hosts it, and the other. */
export async function runningVm(owner: Peer, a: Peer, b: Peer, name: string) {
  const vmId = await owner.vm.owner.create(name);
  await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
  const [first, second] = hostOf(owner, vmId) === a.node.self ? [a, b] : [b, a];
  return { vmId, first: first!, second: second! };
}

/** Takes a peer off the network for good. */
export async function remove(peer: Peer): Promise<void> {
  await peer.stop();
  peers.splice(peers.indexOf(peer), 1);
}

/**
 * A peer of the room with no VM services of its own: just its node, chunked
 * transfers and a checkpoint exchange that keeps nothing, to ask others for
 * checkpoints as any stranger could.
 */
export async function addStranger(hub: MemorySignalingHub, network: MemoryNetwork) {
  const identity = await createIdentity();
  const info = { peer: peerAddress(identity.peerId, "stranger"), publicKey: identity.publicKey };
  const node = new PeerNode({
    identity,
    signaling: hub.connect(info),
    linkFactory: network.factory(info.peer),
    clock: systemClock,
    mesh: { targetDegree: 6, maxDegree: 12, maintainIntervalMs: 200 },
    presenceIntervalMs: 500,
    presence: () => ({
      name: "",
      appVersion: "test",
      capacity: { contributing: false, cores: 2, memoryMiB: 4096, budgetPct: 50, slots: 0 },
      load: { vms: 0, usedPct: 0 },
    }),
  });
  node.start();
  let exchange: CheckpointExchange | null = null;
  const transfers = new Transfers(node.mesh, {
    clock: systemClock,
    accept: (remote, offer) => exchange?.accept(remote, offer) ?? false,
  });
  exchange = new CheckpointExchange({
    mesh: node.mesh,
    transfers,
    clock: systemClock,
    keepers: [],
    fetchTimeoutMs: 5000,
  });
  const ex = exchange;
  const stranger = {
    identity,
    node,
    exchange: ex,
    async stop() {
      ex.dispose();
      transfers.stop();
      node.stop();
    },
  };
  strangers.push(stranger);
  return stranger;
}

export const strangers: { stop(): Promise<void> }[] = [];
