// Runs a hosted VM for the host runtime: the VM host (in a worker in the page,
// or directly in Node for tests) behind core's VmEngine interface.
import * as Comlink from "comlink";
import { guestMacForVm } from "../core/guest/guest-mac.ts";
import type { VmEngine } from "../core/vm/engine.ts";
import type { GuestFileDownload, GuestFileEntry, GuestFilePort } from "../core/vm/file-transfer.ts";
import type {
  BaseSource,
  GuestSource,
  SealedCheckpoint,
  StartRequest,
  StartResult,
  StateSource,
  VmStats,
} from "../worker/api.ts";
import { baseOf } from "./base-source.ts";
import { type GuestTcp, openGuestConnection } from "./guest-connection.ts";

/** The part of a VM host the engine uses; the page's VmWorker and a VmHost in Node both fit. */
export interface HostHandle {
  start(
    request: StartRequest,
    events: { output(bytes: Uint8Array): void; progress(): void },
  ): Promise<StartResult>;
  /** Answers now (a VmHost in Node) or later (a worker over comlink). */
  api: {
    input(bytes: Uint8Array): unknown;
    sealedCheckpoint(
      key: CryptoKey,
      context: string,
      base: BaseSource,
    ): SealedCheckpoint | Promise<SealedCheckpoint>;
    transcript(): string | Promise<string>;
    setBudget(pct: number): unknown;
    pause(): unknown;
    resume(): unknown;
    stats(): VmStats | Promise<VmStats>;
    /** TCP into the guest (worker/guest-tcp.ts). */
    tcpOpen?: GuestTcp["tcpOpen"];
    tcpWrite?: GuestTcp["tcpWrite"];
    tcpRead?: GuestTcp["tcpRead"];
    tcpClose?: GuestTcp["tcpClose"];
    /** The guest's packets to and from its owner's network (worker/api.ts GuestLanApi). */
    lanTake?(): Promise<Uint8Array[] | null>;
    lanGive?(packets: Uint8Array[]): unknown;
    /** Where the host can take shell channels (a worker in a browser page). */
    addShellChannel?(id: number, channel: RTCDataChannel, fromByte: number, closed: () => void): unknown;
    closeShellChannel?(id: number): unknown;
    /** Files into and out of the guest's /files (worker/api.ts GuestFilesApi). */
    fileUploadBegin?(name: string, bytes: number): number | Promise<number>;
    fileUploadChunk?(id: number, offset: number, chunk: Uint8Array): unknown;
    fileUploadEnd?(id: number, sha256: string): string | Promise<string>;
    fileUploadCancel?(id: number): unknown;
    fileList?(): GuestFileEntry[] | Promise<GuestFileEntry[]>;
    fileDownloadBegin?(name: string): Promise<GuestFileDownload>;
    fileDownloadChunk?(id: number, offset: number, maxBytes?: number): Uint8Array | Promise<Uint8Array>;
    fileDownloadEnd?(id: number): unknown;
    fileSnapshotBegin?(): Promise<GuestFileDownload>;
  };
  dispose(): Promise<void>;
}

/** An image this host can run. */
export interface EngineImage {
  imageId: string;
  /** The image with `memoryBytes` of memory (default: its saved state's). */
  guest: (memoryBytes?: number) => GuestSource;
  /** The image's state: where fresh VMs start, and what checkpoints are deltas against. */
  image: Extract<StateSource, { kind: "url" }>;
}

export interface EngineOptions {
  images: EngineImage[];
  createHost: () => HostHandle;
}

export function createVmEngine(o: EngineOptions): VmEngine {
  let host: HostHandle | null = null;
  let nextChannelId = 1;
  /** What this VM's checkpoints are deltas against (its image's state), once started. */
  let base: BaseSource | null = null;
  return {
    async start({ imageId, vmId, memoryBytes, sealed, budgetPct, onOutput, outbound }) {
      const chosen = o.images.find((i) => i.imageId === imageId);
      if (!chosen) throw new Error(`this host does not have the VM's image (${imageId.slice(0, 24)}…)`);
      const guest = chosen.guest(memoryBytes);
      // A fresh VM with other memory than the saved state's boots from scratch (a state keeps its memory size).
      const fromImage = guest.memorySizeBytes === chosen.guest().memorySizeBytes;
      base = baseOf(chosen.image);
      host = o.createHost();
      const state: StateSource = sealed
        ? {
            kind: "sealed",
            bytes: sealed.bytes.slice().buffer as ArrayBuffer,
            key: sealed.key,
            context: sealed.context,
            base,
            transcript: "",
            label: "The checkpoint",
          }
        : chosen.image;
      const states = sealed || fromImage ? [state] : [];
      await host.start(
        {
          guest,
          states,
          budgetPct,
          coldBoot: states.length === 0,
          ...(vmId !== undefined && { mac: guestMacForVm(vmId) }),
          ...(outbound === true && { outbound }),
        },
        { output: onOutput, progress: () => {} },
      );
    },
    input(bytes) {
      void host?.api.input(bytes);
    },
    async checkpoint(key, context) {
      if (!host || !base) throw new Error("not running");
      const c = await host.api.sealedCheckpoint(key, context, base);
      return { sealed: new Uint8Array(c.sealed), rawBytes: c.rawBytes, saveMs: c.saveMs, packMs: c.packMs };
    },
    async transcript() {
      return host ? await host.api.transcript() : "";
    },
    shellChannel(channel, fromByte, closed) {
      const api = host?.api;
      if (!api?.addShellChannel) return null;
      const native = channel.take() as RTCDataChannel | null;
      if (!native) return null;
      const id = nextChannelId++;
      try {
        const moved = Comlink.transfer(native, [native as unknown as Transferable]);
        void api.addShellChannel(id, moved, fromByte, Comlink.proxy(closed));
      } catch {
        native.close(); // it could not move: the mesh carries this tab's output
        return null;
      }
      return () => void api.closeShellChannel?.(id);
    },
    setBudget(pct) {
      void host?.api.setBudget(pct);
    },
    files() {
      const api = host?.api;
      if (!api?.fileUploadBegin) return null;
      // Called on the host object itself: a VmHost in Node keeps its `this`.
      const port: GuestFilePort = {
        fileUploadBegin: async (name, bytes) => api.fileUploadBegin!(name, bytes),
        fileUploadChunk: async (id, offset, chunk) => void (await api.fileUploadChunk!(id, offset, chunk)),
        fileUploadEnd: async (id, sha256) => api.fileUploadEnd!(id, sha256),
        fileUploadCancel: async (id) => void (await api.fileUploadCancel!(id)),
        fileList: async () => api.fileList!(),
        fileDownloadBegin: (name) => api.fileDownloadBegin!(name),
        fileDownloadChunk: async (id, offset, maxBytes) => api.fileDownloadChunk!(id, offset, maxBytes),
        fileDownloadEnd: async (id) => void (await api.fileDownloadEnd!(id)),
        ...(api.fileSnapshotBegin && { fileSnapshotBegin: () => api.fileSnapshotBegin!() }),
      };
      return port;
    },
    async connect(port, first) {
      const api = host?.api;
      if (!api?.tcpOpen || !api.tcpRead || !api.tcpWrite || !api.tcpClose)
        throw new Error("this host cannot reach the guest's network");
      // Called on the host object itself: a VmHost in Node keeps its `this`.
      const tcp: GuestTcp = {
        tcpOpen: (p, bytes) => api.tcpOpen!(p, bytes),
        tcpRead: (id, max) => api.tcpRead!(id, max),
        tcpWrite: (id, bytes) => api.tcpWrite!(id, bytes),
        tcpClose: (id) => api.tcpClose!(id),
      };
      return openGuestConnection(tcp, port, first);
    },
    lan(onPacket) {
      const api = host?.api;
      let open = api?.lanTake !== undefined && api.lanGive !== undefined;
      // Takes the guest's packets as it sends them, until the VM stops or this is closed.
      const pump = async () => {
        while (open) {
          const packets = await api!.lanTake!().catch(() => null);
          if (packets === null) break;
          if (open) for (const p of packets) onPacket(p);
        }
        open = false;
      };
      if (open) void pump();
      return {
        deliver(packet) {
          if (open) void Promise.resolve(api!.lanGive!([packet])).catch(() => {});
        },
        close() {
          open = false;
        },
      };
    },
    async pause() {
      await host?.api.pause();
    },
    async resume() {
      await host?.api.resume();
    },
    async stats() {
      const s = host ? await host.api.stats() : null;
      return {
        usedPct: s?.usedPct ?? 0,
        instructions: s?.instructions ?? 0,
        ...(s && { diskBytes: s.diskBytes }),
      };
    },
    async stop() {
      const h = host;
      host = null;
      await h?.dispose();
    },
  };
}
