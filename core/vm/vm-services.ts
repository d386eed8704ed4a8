// Remote VMs on top of a peer: the document's VM book, chunked transfers, the
// host side (when contributing) and the owner side, wired to the peer's mesh
// and presence. The page, the tests and a Node contributor all use this.

import { BandwidthCap } from "../net/bandwidth-cap.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import { Transfers } from "../net/transfer.ts";
import type { PeerNode, PeerView } from "../peer/peer-node.ts";
import type { KeyValueStore } from "../state/storage.ts";
import { VmBook } from "../state/vm-book.ts";
import type { Clock } from "../util/clock.ts";
import { WebBook } from "../web/web-book.ts";
import { CheckpointExchange } from "./checkpoint-exchange.ts";
import type { VmEngine } from "./engine.ts";
import { FileClients } from "./file-client.ts";
import { HostRuntime, type HostSettings } from "./host-runtime.ts";
import { OwnerCheckpoints } from "./owner-checkpoints.ts";
import { OwnerRuntime } from "./owner-runtime.ts";
import type { HostCandidate } from "./placement.ts";
import { ReplicaStore } from "./replica-store.ts";
import { VmLan, type VmLanLimits } from "./vm-lan.ts";
import { WebClient } from "./web-client.ts";
import { type WebCounters, WebHost, type WebHostLimits } from "./web-host.ts";

export interface VmServicesOptions {
  clock: Clock;
  createEngine: () => VmEngine;
  keys: KeyValueStore;
  checkpoints: KeyValueStore;
  replicas: KeyValueStore;
  hostSettings: () => HostSettings;
  imageId: string;
  memoryBytes: number;
  isLeader: () => boolean;
  owner?: { graceMs?: number; tickMs?: number; startTimeoutMs?: number };
  /** The most bytes of other owners' replicas this peer keeps (default 512 MiB). */
  replicaMaxBytes?: number;
  /** Wall-clock time in ms since the epoch, for what the runtimes sign and compare (default Date.now). */
  now?: () => number;
  /** Limits on the web requests this peer serves for the VMs it hosts. */
  webLimits?: Partial<WebHostLimits>;
  /** Limits on the packets this peer takes for the owners' private networks of the VMs it hosts. */
  lanLimits?: Partial<VmLanLimits>;
}

export interface VmServices {
  book: VmBook;
  transfers: Transfers;
  host: HostRuntime;
  owner: OwnerRuntime;
  /** Published ports (the shared state), serving them (as a host) and asking them (as anyone). */
  web: { book: WebBook; host: WebHost; client: WebClient };
  /** What this peer sends for the VMs it hosts (web answers, VM-to-VM frames), capped as its person allows. */
  bandwidth: BandwidthCap;
  /** The owners' private networks, for the VMs this peer hosts. */
  lan: VmLan;
  /** Files into and out of this peer's VMs that run elsewhere (from a tab with their shell open). */
  files: FileClients;
  dispose(): Promise<void>;
}

export function startVmServices(node: PeerNode, o: VmServicesOptions): VmServices {
  const book = new VmBook(node.store);
  let views: PeerView[] = [];
  const refreshViews = async () => {
    views = await node.peers();
  };
  const offChange = node.on("change", () => void refreshViews());
  void refreshViews();

  let exchange: CheckpointExchange | null = null;
  const transfers = new Transfers(node.mesh, {
    clock: o.clock,
    accept: (remote, offer) => exchange?.accept(remote, offer) ?? false,
  });
  const ownCheckpoints = new OwnerCheckpoints({
    owner: node.identity.peerId,
    book,
    store: o.checkpoints,
    keys: o.keys,
  });
  const replicas = new ReplicaStore({
    self: () => node.self,
    book,
    replicas: o.replicas,
    maxBytes: o.replicaMaxBytes,
  });
  exchange = new CheckpointExchange({
    mesh: node.mesh,
    transfers,
    clock: o.clock,
    keepers: [ownCheckpoints, replicas],
  });
  const bandwidth = new BandwidthCap({ clock: o.clock, capKiBps: () => o.hostSettings().bandwidthCapKiBps });
  const host = new HostRuntime({
    identity: node.identity,
    mesh: node.mesh,
    book,
    transfers,
    exchange,
    replicas,
    credits: node.credits,
    clock: o.clock,
    createEngine: o.createEngine,
    settings: o.hostSettings,
    now: o.now,
    // What each hosted VM's published ports served, for its owner's page (web-host.ts).
    traffic: (vmId): WebCounters => webHost.countersOf(vmId),
  });
  const candidates = async (): Promise<HostCandidate[]> => {
    await refreshViews();
    return views.flatMap((v) =>
      v.presence && v.connection !== "self"
        ? [{ presence: v.presence, direct: v.connection === "direct", rttMs: v.rttMs }]
        : [],
    );
  };
  const boxKeyOf = async (peer: PeerAddress) => {
    await refreshViews();
    return views.find((v) => v.peer === peer)?.presence?.boxKey ?? null;
  };
  const owner = new OwnerRuntime({
    identity: node.identity,
    mesh: node.mesh,
    book,
    transfers,
    clock: o.clock,
    keys: o.keys,
    checkpoints: ownCheckpoints,
    credits: node.credits,
    candidates,
    boxKeyOf,
    imageId: o.imageId,
    memoryBytes: o.memoryBytes,
    isLeader: o.isLeader,
    now: o.now,
    ...o.owner,
  });
  const ex = exchange;
  const webBook = new WebBook(node.store, book, node.identity, o.now);
  const webHost = new WebHost({
    mesh: node.mesh,
    clock: o.clock,
    web: webBook,
    running: (vmId) => host.running(vmId),
    limits: o.webLimits,
    bandwidth,
  });
  const webClient = new WebClient({ mesh: node.mesh, clock: o.clock, book });
  const lan = new VmLan({
    mesh: node.mesh,
    book,
    clock: o.clock,
    hosted: () => host.vms().flatMap((v) => host.running(v.vmId) ?? []),
    onHostedChange: (fn) => host.on("change", fn),
    bandwidth,
    limits: o.lanLimits,
  });
  const files = new FileClients(node.mesh, o.clock);
  return {
    book,
    transfers,
    host,
    owner,
    web: { book: webBook, host: webHost, client: webClient },
    bandwidth,
    lan,
    files,
    async dispose() {
      offChange();
      files.dispose();
      lan.dispose();
      webClient.dispose();
      webHost.dispose();
      bandwidth.dispose();
      owner.dispose();
      await host.stop();
      ex.dispose();
      transfers.stop();
    },
  };
}
