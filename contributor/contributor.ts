// The headless contributor: a Node peer that hosts other people's VMs, each in
// its own worker thread running the page's VM host code, with the same core
// runtimes as a tab (startVmServices). It offers what the command line says,
// logs what it hosts, and on stop saves and hands over every VM before leaving.
import { availableParallelism } from "node:os";
import type { SignalingStatus } from "../core/net/signaling-client.ts";
import { MemoryStore } from "../core/state/storage.ts";
import { systemClock } from "../core/util/clock.ts";
import { startVmServices, type VmServices } from "../core/vm/vm-services.ts";
import { type NodePeer, startNodePeer } from "../transports/node-peer.ts";
import { createVmEngine } from "../web/vm-engine.ts";
import type { ContributorOptions } from "./cli-options.ts";
import { openContributorData } from "./data-dir.ts";
import type { GuestFiles } from "./guest-files.ts";
import { HostLog } from "./host-log.ts";
import { ThreadHost } from "./thread-host.ts";

/** Checkpoints of a busy VM this often (as the page does). */
const CHECKPOINT_INTERVAL_MS = 5000;
/** The most bytes of other owners' checkpoints kept here (in memory). */
const REPLICA_MAX_BYTES = 256 * 1024 * 1024;
const APP_VERSION = "headless";

export class CannotReachServer extends Error {}

export interface Contributor {
  peer: NodePeer;
  services: VmServices;
  /** Saves every hosted VM, tells the owners to move them, waits (up to `waitMs`) until they have, then leaves. */
  stop(waitMs: number): Promise<{ handedOver: number; left: number }>;
}

/** Resolves once the peer has joined its room; rejects with the server's problem after `timeoutMs`. */
function joined(peer: NodePeer, url: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let last: SignalingStatus = peer.signaling.status();
    const done = (fn: () => void) => {
      off();
      clearTimeout(timer);
      fn();
    };
    const off = peer.signaling.on("status", (s) => {
      last = s;
      if (s.state === "joined") done(resolve);
    });
    const timer = setTimeout(
      () =>
        done(() =>
          reject(
            new CannotReachServer(
              `cannot reach the server at ${url} after ${Math.round(timeoutMs / 1000)} s` +
                ` (${last.failures} attempts; last problem: ${last.lastError ?? "no answer"})`,
            ),
          ),
        ),
      timeoutMs,
    );
    if (last.state === "joined") done(resolve);
  });
}

/** Resolves once this host runs no VM, or after `waitMs`. */
function allMoved(vm: VmServices, waitMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      off();
      clearTimeout(timer);
      resolve();
    };
    const off = vm.host.on("change", () => {
      if (vm.host.count() === 0) done();
    });
    const timer = setTimeout(done, waitMs);
    if (vm.host.count() === 0) done();
  });
}

export async function startContributor(
  o: ContributorOptions,
  files: GuestFiles,
  log: (line: string) => void,
): Promise<Contributor> {
  const data = await openContributorData(o.dataDir);
  const { identity } = data;
  let services: VmServices | null = null;
  let contributing = true;
  const stampOption = o.stampBits === undefined ? {} : { stampBits: o.stampBits };
  const peer = startNodePeer({
    url: o.serverUrls,
    room: o.room,
    identity,
    relayOnly: o.relayOnly,
    ...stampOption,
    state: data.state,
    presence: () => ({
      name: o.name,
      appVersion: APP_VERSION,
      capacity: {
        contributing,
        cores: availableParallelism(),
        memoryMiB: o.memoryMiB,
        budgetPct: o.budgetPct,
        slots: o.slots,
      },
      load: { vms: services?.host.count() ?? 0, usedPct: 0 },
    }),
  });
  try {
    await joined(peer, o.serverUrl, o.connectTimeoutMs);
  } catch (err) {
    peer.stop();
    throw err;
  }
  log(
    `joined room "${o.room}" at ${o.serverUrl} as ${identity.peerId.slice(0, 10)}` +
      `${o.dataDir ? (data.knownIdentity ? `, kept in ${o.dataDir}` : `, new, kept in ${o.dataDir}`) : ", new (not kept)"}` +
      ` (${peer.node.self})`,
  );
  const offStatus = peer.signaling.on("status", (s) => {
    if (s.state === "waiting") log(`lost the server (${s.lastError ?? "closed"}); trying again`);
    if (s.state === "joined") log("back on the server");
  });

  const { manifest } = files;
  services = startVmServices(peer.node, {
    ...stampOption,
    clock: systemClock,
    createEngine: () => createVmEngine({ images: files.images, createHost: () => new ThreadHost() }),
    keys: new MemoryStore(),
    checkpoints: new MemoryStore(),
    replicas: data.replicas,
    replicaMaxBytes: REPLICA_MAX_BYTES,
    hostSettings: () => ({
      slots: o.slots,
      memoryMiB: o.memoryMiB,
      budgetPct: o.budgetPct,
      checkpointIntervalMs: CHECKPOINT_INTERVAL_MS,
      outboundAllowed: o.allowOutbound,
      bandwidthCapKiBps: o.bandwidthCapKiBps,
    }),
    imageId: manifest.imageId,
    memoryBytes: manifest.memorySizeBytes,
    // It owns no VMs, so it never places any.
    isLeader: () => false,
  });
  const vm = services;
  const hostLog = new HostLog(log);
  const offChange = vm.host.on("change", () => {
    hostLog.update(vm.host.vms());
    void peer.node.publishPresence();
  });
  vm.host.setAccepting(true);
  void peer.node.publishPresence();
  log(
    `offering ${o.slots} VM slots, ${o.memoryMiB} MiB, ${o.budgetPct} % of a core each` +
      `, outbound internet ${o.allowOutbound ? "allowed" : "off"}` +
      `, bandwidth ${o.bandwidthCapKiBps === null ? "unlimited" : `capped at ${o.bandwidthCapKiBps} KiB/s`}`,
  );

  return {
    peer,
    services: vm,
    async stop(waitMs) {
      contributing = false;
      vm.host.setAccepting(false);
      await peer.node.publishPresence();
      const hosted = vm.host.count();
      if (hosted > 0) log(`stopping: a last checkpoint of ${hosted} VM(s), then their owners move them`);
      await vm.host.releaseAll();
      // The owners sign a lease elsewhere; this host sees it and stops its copy.
      await allMoved(vm, waitMs);
      const left = vm.host.count();
      offChange();
      offStatus();
      await vm.dispose();
      peer.stop();
      return { handedOver: hosted - left, left };
    },
  };
}
