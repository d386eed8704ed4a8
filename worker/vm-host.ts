// One VM, hosted inside a dedicated Web Worker: loads the emulator and the
// guest, restores a saved state (or boots from scratch when no state will load),
// streams the serial console, saves snapshots, and keeps the emulator within its
// CPU budget through the governor.
//
// The parts: v86-boot.ts (making emulators, cold boot), vm-preparation.ts (work
// done ahead by `prepare`), state-loading.ts (restoring a state),
// checkpoints.ts (snapshots and sealed checkpoints), vm-console.ts (serial
// output), run-meter.ts (instructions and uptime).
import type { V86 } from "v86";
import { Governor } from "../core/cpu/governor.ts";
import { IMAGE_GUEST_MAC, isUnicastMac } from "../core/guest/guest-mac.ts";
import { delay } from "../core/util/async.ts";
import { systemClock } from "../core/util/clock.ts";
import { errorMessage } from "../core/util/errors.ts";
import { replayableTranscript } from "../core/util/format.ts";
import { canShareMemory, OutputRingWriter } from "../core/util/output-ring.ts";
import type {
  BaseSource,
  GuestFileDownload,
  GuestFileEntry,
  GuestNetInfo,
  GuestSource,
  SealedCheckpoint,
  StartRequest,
  StartResult,
  StateSource,
  VmHostApi,
  VmHostEvents,
  VmPhase,
  VmSnapshot,
  VmStats,
} from "./api.ts";
import { createBusyMeter } from "./busy-meter.ts";
import { sealCheckpoint } from "./checkpoints.ts";
import { FILES_ONLY_LAYOUT, GuestFiles } from "./guest-files.ts";
import type { GuestFilesLayout } from "./guest-files-options.ts";
import { GuestLanQueue } from "./guest-lan-queue.ts";
import { GuestNic, MAX_LAN_QUEUE } from "./guest-nic.ts";
import { DEFAULT_TCP_LIMITS, GuestTcpTable } from "./guest-tcp.ts";
import { takeSnapshot } from "./local-saves.ts";
import { RunMeter } from "./run-meter.ts";
import { ShellOutlets } from "./shell-outlets.ts";
import { restoreState } from "./state-loading.ts";
import { coldBoot, compileWasm, waitForShell } from "./v86-boot.ts";
import { VmConsole } from "./vm-console.ts";
import { VmPreparation } from "./vm-preparation.ts";

/** A governor for the emulator that steers by the time v86 really spends emulating. */
function governV86(emulator: V86, budgetPct: number): Governor {
  const meter = createBusyMeter(emulator);
  return new Governor(
    {
      run: () => {
        meter.setRunning(true);
        void emulator.run();
      },
      stop: async () => {
        await emulator.stop();
        meter.setRunning(false);
      },
      busyMs: () => meter.busyMs(),
    },
    systemClock,
    { budgetPct },
  );
}

export class VmHost implements VmHostApi {
  private phase: VmPhase = "new";
  private emulator: V86 | null = null;
  private governor: Governor | null = null;
  /** The console's output in shared memory too, so the page can paint an echo a frame sooner. */
  private readonly ring = canShareMemory() ? new OutputRingWriter() : null;
  /** Granted tabs' shell channels: the console's output goes to them from here. */
  private readonly outlets = new ShellOutlets();
  private readonly console = new VmConsole({
    write: (bytes) => {
      this.ring?.write(bytes);
      this.outlets.write(bytes);
    },
  });
  private readonly meter = new RunMeter();
  private readonly preparation = new VmPreparation();
  private nic: GuestNic | null = null;
  private readonly lan = new GuestLanQueue();
  // The guest answers each step of a connection now, not after the governor's rest.
  private readonly tcp = new GuestTcpTable(
    () => this.nic,
    DEFAULT_TCP_LIMITS,
    systemClock,
    () => this.governor?.wake(),
  );
  private files: GuestFiles | null = null;

  /**
   * Gets ready to start quickly: compiles the emulator, makes an instance, and
   * downloads (without unpacking) the state the VM will most likely start from.
   */
  async prepare(guest: GuestSource, likelyState: StateSource | null): Promise<void> {
    if (this.phase !== "new") return;
    await this.preparation.prepare(guest, likelyState);
  }

  async start(request: StartRequest, events: VmHostEvents): Promise<StartResult> {
    if (this.phase !== "new") throw new Error(`this worker already hosts a VM (${this.phase})`);
    const mac = request.mac ?? IMAGE_GUEST_MAC;
    if (!isUnicastMac(mac)) throw new Error(`not a unicast MAC address: ${JSON.stringify(mac)}`);
    this.phase = "loading";
    const t0 = performance.now();
    const timingsMs: Record<string, number> = {};
    try {
      const wasm = compileWasm(request.guest.wasmUrl);
      const problems: string[] = [];
      let emulator: V86 | null = null;
      let restoredIndex: number | null = null;
      for (const [index, source] of request.states.entries()) {
        try {
          const restored = await restoreState(
            request.guest,
            wasm,
            source,
            this.preparation,
            events,
            timingsMs,
          );
          emulator = restored.emulator;
          restoredIndex = index;
          // The terminal shows what the console showed when the state was saved.
          this.console.replay(replayableTranscript(restored.transcript ?? source.transcript), events);
          break;
        } catch (err) {
          problems.push(`${source.label} would not load: ${errorMessage(err)}`);
        }
      }
      if (!emulator && request.coldBoot === false)
        throw new Error(problems.join("; ") || "no state to start from");
      if (!emulator) {
        try {
          emulator = await coldBoot(request.guest, await wasm, events);
        } catch (err) {
          // Say why every way of starting failed, not just the last one.
          const why = errorMessage(err);
          throw new Error([...problems, `booting from scratch failed: ${why}`].join("; "));
        }
      }
      this.attach(
        emulator,
        events,
        request.budgetPct,
        mac,
        request.outbound === true,
        filesLayout(request.guest),
      );
      if (restoredIndex === null) await waitForShell(request.guest, this.console, events);
      // Serial input sent in the same tick as the restore is overwritten by it.
      else await delay(0);
      this.phase = "running";
      return {
        mode: restoredIndex === null ? "cold-boot" : "restored",
        restoredIndex,
        problems,
        loadMs: Math.round(performance.now() - t0),
        timingsMs,
      };
    } catch (err) {
      this.phase = "failed";
      await this.teardown();
      throw err;
    }
  }

  private attach(
    emulator: V86,
    events: VmHostEvents,
    budgetPct: number,
    mac: string,
    outbound: boolean,
    layout: GuestFilesLayout,
  ): void {
    this.emulator = emulator;
    // Before the emulator first runs, so a guest booting from scratch reads the VM's MAC.
    this.nic = GuestNic.attach(emulator, mac, { outbound });
    this.nic.openLan((packet) => this.lan.push(packet));
    this.files = GuestFiles.attach(emulator, layout);
    this.console.attach(emulator, events);
    this.governor = governV86(emulator, budgetPct);
    this.meter.start(emulator);
    this.governor.start();
  }

  network(): GuestNetInfo | null {
    const nic = this.nic;
    return nic && { mac: nic.mac, ip: nic.guestIp, outbound: nic.outbound ? "on" : "off" };
  }

  lanTake(): Promise<Uint8Array[] | null> {
    return this.lan.take();
  }

  lanGive(packets: Uint8Array[]): void {
    const nic = this.nic;
    if (!nic) return;
    for (const packet of packets.slice(0, MAX_LAN_QUEUE)) nic.deliverLan(packet);
    // The guest answers now, not after the governor's rest.
    this.governor?.wake();
  }

  async tcpOpen(port: number, first?: Uint8Array): Promise<number> {
    const opened = this.tcp.open(port);
    // The guest answers now, not after the governor's rest.
    this.governor?.wake();
    const id = await opened;
    if (first?.byteLength) this.tcpWrite(id, first);
    return id;
  }

  tcpWrite(id: number, bytes: Uint8Array): number {
    const unsent = this.tcp.write(id, bytes);
    this.governor?.wake();
    return unsent;
  }

  tcpRead(id: number, maxBytes?: number): Promise<Uint8Array | null> {
    return this.tcp.read(id, maxBytes);
  }

  tcpClose(id: number): void {
    this.tcp.close(id);
  }

  fileUploadBegin(name: string, bytes: number): number {
    return this.guestFiles().uploadBegin(name, bytes);
  }

  fileUploadChunk(id: number, offset: number, chunk: Uint8Array): void {
    this.guestFiles().uploadChunk(id, offset, chunk);
  }

  fileUploadEnd(id: number, sha256: string): Promise<string> {
    return this.guestFiles().uploadEnd(id, sha256);
  }

  fileUploadCancel(id: number): void {
    this.files?.uploadCancel(id);
  }

  fileList(): GuestFileEntry[] {
    return this.guestFiles().list();
  }

  fileDownloadBegin(name: string): Promise<GuestFileDownload> {
    return this.guestFiles().downloadBegin(name);
  }

  fileDownloadChunk(id: number, offset: number, maxBytes?: number): Uint8Array {
    return this.guestFiles().downloadChunk(id, offset, maxBytes);
  }

  fileDownloadEnd(id: number): void {
    this.files?.downloadEnd(id);
  }

  fileSnapshotBegin(): Promise<GuestFileDownload> {
    return this.guestFiles().snapshotBegin();
  }

  private guestFiles(): GuestFiles {
    if (!this.files) throw new Error("no VM is running");
    return this.files;
  }

  async sealedCheckpoint(key: CryptoKey, context: string, base: BaseSource): Promise<SealedCheckpoint> {
    const emulator = this.emulator;
    if (!emulator) throw new Error("no VM is running");
    return sealCheckpoint(emulator, this.console.recent(), key, context, base);
  }

  addShellChannel(id: number, channel: RTCDataChannel, fromByte: number, closed: () => void): void {
    this.outlets.add(id, channel, fromByte, closed);
  }

  closeShellChannel(id: number): void {
    this.outlets.close(id);
  }

  outputRing(): SharedArrayBuffer | null {
    return this.ring?.buffer ?? null;
  }

  transcript(): string {
    return this.console.recent();
  }

  input(bytes: Uint8Array): void {
    if (this.phase !== "running" && this.phase !== "paused") return;
    this.emulator?.serial_send_bytes(0, bytes);
    // A keystroke is answered now, not after the governor's rest.
    this.governor?.wake();
  }

  async snapshot(base?: BaseSource): Promise<VmSnapshot> {
    const emulator = this.emulator;
    if (!emulator) throw new Error("no VM is running");
    const transcript = this.console.recent();
    return takeSnapshot(emulator, transcript, base);
  }

  async pause(): Promise<void> {
    if (this.phase !== "running") return;
    this.phase = "paused";
    await this.governor?.pause();
  }

  async resume(): Promise<void> {
    if (this.phase !== "paused") return;
    this.phase = "running";
    this.governor?.resume();
  }

  setBudget(pct: number): void {
    this.governor?.setBudget(pct);
  }

  stats(): VmStats {
    this.meter.sample(this.emulator);
    const usage = this.governor?.usage();
    return {
      phase: this.phase,
      budgetPct: usage?.budgetPct ?? 0,
      usedPct: usage?.usedPct ?? 0,
      busyMs: usage?.busyMs ?? 0,
      wallMs: usage?.wallMs ?? 0,
      instructions: this.meter.instructionCount,
      uptimeMs: this.meter.uptimeMs,
      diskBytes: this.files?.usage().usedBytes ?? 0,
    };
  }

  async destroy(): Promise<void> {
    this.phase = "destroyed";
    await this.teardown();
  }

  private async teardown(): Promise<void> {
    await this.preparation.dispose();
    this.tcp.closeAll("the VM stopped");
    this.lan.close();
    this.nic?.dispose();
    this.nic = null;
    this.files?.dispose();
    this.files = null;
    this.meter.stop();
    await this.governor?.stop();
    this.governor = null;
    this.console.dispose();
    this.outlets.dispose();
    await this.emulator?.destroy().catch(() => {});
    this.emulator = null;
  }
}

/** Where the guest's /files is in its 9p filesystem, and what that may hold. */
function filesLayout(guest: GuestSource): GuestFilesLayout {
  return guest.root ? { dir: "/files/", quotaBytes: guest.root.diskBytes } : FILES_ONLY_LAYOUT;
}
