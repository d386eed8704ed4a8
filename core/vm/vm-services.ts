// Remote VMs on top of a peer: the document's VM book, chunked transfers, the
// host side (when contributing) and the owner side, wired to the peer's mesh
// and presence. The page, the tests and a Node contributor all use this.

import type { PeerAddress } from "../net/peer-address.ts";
import { Transfers } from "../net/transfer.ts";
import type { PeerNode, PeerView } from "../peer/peer-node.ts";
import type { KeyValueStore } from "../state/storage.ts";
import { VmBook } from "../state/vm-records.ts";
import type { Clock } from "../util/clock.ts";
import { HostRuntime, type HostSettings, type VmEngine } from "./host-runtime.ts";
import { OwnerRuntime } from "./owner-runtime.ts";
import type { HostCandidate } from "./placement.ts";

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
}

export interface VmServices {
  book: VmBook;
  transfers: Transfers;
  host: HostRuntime;
  owner: OwnerRuntime;
  dispose(): Promise<void>;
}

export function startVmServices(node: PeerNode, o: VmServicesOptions): VmServices {
  const book = new VmBook(node.doc);
  let views: PeerView[] = [];
  const refreshViews = async () => {
    views = await node.peers();
  };
  const offChange = node.on("change", () => void refreshViews());
  void refreshViews();

  let host: HostRuntime | null = null;
  let owner: OwnerRuntime | null = null;
  const transfers = new Transfers(node.mesh, {
    clock: o.clock,
    accept: async (remote, offer) =>
      (await host?.acceptOffer(remote, offer)) === true || (await owner?.acceptOffer(remote, offer)) === true,
  });
  host = new HostRuntime({
    identity: node.identity,
    mesh: node.mesh,
    book,
    transfers,
    clock: o.clock,
    createEngine: o.createEngine,
    replicas: o.replicas,
    settings: o.hostSettings,
    contributors: () => views.filter((v) => v.presence?.capacity.contributing).map((v) => v.peer),
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
  owner = new OwnerRuntime({
    identity: node.identity,
    mesh: node.mesh,
    book,
    transfers,
    clock: o.clock,
    keys: o.keys,
    checkpoints: o.checkpoints,
    candidates,
    boxKeyOf,
    imageId: o.imageId,
    memoryBytes: o.memoryBytes,
    isLeader: o.isLeader,
    ...o.owner,
  });
  const h = host;
  const ow = owner;
  return {
    book,
    transfers,
    host: h,
    owner: ow,
    async dispose() {
      offChange();
      ow.dispose();
      await h.stop();
      transfers.stop();
    },
  };
}
