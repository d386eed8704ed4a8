// The contract between the page and the VM host worker (spoken over comlink).
// Types only, so both sides can import it whatever their globals.
import type { GuestFileDownload, GuestFileEntry } from "../core/vm/file-transfer.ts";

export type { GuestFileDownload, GuestFileEntry };

export interface ColdBootSource {
  biosUrl: string;
  vgaBiosUrl: string;
  bzimageUrl: string;
  initrdUrl: string;
  cmdline: string;
  /** Expected SHA-256 of each file; a mismatch refuses the file. */
  sha256: { bios: string; vgaBios: string; bzimage: string; initrd: string };
  /** Roughly how long a cold boot takes, for the progress bar. */
  expectedBootMs: number;
}

/**
 * A guest whose root is v86's 9p filesystem loaded on demand (the Debian
 * image): its index, and the folder its files are fetched from by name.
 */
export interface GuestRootSource {
  indexUrl: string;
  /** Ends with "/": a file is fetched from here plus its name (`<sha256>.zst`). */
  filesUrl: string;
  /** What the whole root may hold (the image's files and what the guest writes); past it, writes are dropped. */
  diskBytes: number;
}

export interface GuestSource {
  wasmUrl: string;
  memorySizeBytes: number;
  cold: ColdBootSource;
  /** Absent: the 9p filesystem is empty, for /files only. */
  root?: GuestRootSource;
}

/** Where a VM's state comes from: the image's published state, or saved bytes (gzip or raw). */
/**
 * The image's state also at `url` as raw bytes the server compresses on the way
 * (brotli, `Content-Encoding: br`); checked against `rawSha256` once unpacked.
 */
export interface BrotliState {
  url: string;
  rawSha256: string;
  rawBytes: number;
}

/** The image state a checkpoint's delta is against: a gzip file, and where a browser gets it smaller. */
export interface BaseSource {
  url: string;
  sha256: string;
  bytes: number;
  brotli?: BrotliState;
}

export type StateSource = (
  | { kind: "url"; url: string; sha256: string; bytes: number; brotli?: BrotliState }
  | { kind: "bytes"; bytes: ArrayBuffer }
  /** A local save: a gzipped delta against the image's state `base` (see VmHostApi.snapshot). */
  | { kind: "delta"; bytes: ArrayBuffer; base: BaseSource }
  /** A sealed checkpoint: opened with the VM key, unpacked, and applied to the base. */
  | { kind: "sealed"; bytes: ArrayBuffer; key: CryptoKey; context: string; base: BaseSource }
) & {
  /** What the console showed when this state was saved; replayed to the terminal on restore. */
  transcript: string;
  /** Names the state in messages ("your saved VM"). */
  label: string;
};

export interface StartRequest {
  guest: GuestSource;
  /** States to try in order; when none loads, the VM boots from scratch (unless `coldBoot` is false). */
  states: StateSource[];
  /** Whether to boot from scratch when no state loads (default true); false makes start fail instead. */
  coldBoot?: boolean;
  budgetPct: number;
  /**
   * The VM's MAC on the network outside the guest (core/guest/guest-mac.ts, from
   * its VM id). Absent for a VM without an id (a local VM): the image's MAC.
   */
  mac?: string;
  /** Whether the guest may reach the internet through the host's fetch (default: no). */
  outbound?: boolean;
}

export interface StartResult {
  mode: "restored" | "cold-boot";
  /** Index in `states` of the state that loaded (null after a cold boot). */
  restoredIndex: number | null;
  /** Why states were passed over (empty when the first one loaded). */
  problems: string[];
  loadMs: number;
  /** Where the time went (stateMs: download and unpack; emulatorMs; restoreMs). */
  timingsMs: Record<string, number>;
}

export type LoadStage = "download" | "decompress" | "restore" | "boot";

export interface LoadProgress {
  stage: LoadStage;
  label: string;
  done: number;
  total: number;
}

export interface VmHostEvents {
  /** Serial console output, in batches. */
  output(bytes: Uint8Array): void;
  progress(progress: LoadProgress): void;
}

export type VmPhase = "new" | "loading" | "running" | "paused" | "destroyed" | "failed";

export interface VmStats {
  phase: VmPhase;
  budgetPct: number;
  /** Share of one core the emulator used recently. */
  usedPct: number;
  busyMs: number;
  wallMs: number;
  /** Guest instructions executed since start (64-bit safe). */
  instructions: number;
  uptimeMs: number;
  /** What the VM's 9p filesystem holds: a Debian guest's whole disk, the small guest's /files. */
  diskBytes: number;
}

export interface VmSnapshot {
  /** gzip of the v86 state ("gzip"), or of its delta against a base state ("delta-gzip"). */
  state: ArrayBuffer;
  encoding: "gzip" | "delta-gzip";
  /** Console output up to the moment of the save. */
  transcript: string;
  rawBytes: number;
  saveMs: number;
  compressMs: number;
}

export interface SealedCheckpoint {
  sealed: ArrayBuffer;
  rawBytes: number;
  /** Bytes of the delta before gzip. */
  deltaBytes: number;
  saveMs: number;
  /** Delta, gzip and sealing. */
  packMs: number;
}

/** The guest's network as its host sees it. */
export interface GuestNetInfo {
  /** The VM's MAC outside the guest. */
  mac: string;
  /** The guest's address on its private network (from the emulator's DHCP). */
  ip: string;
  /** Outbound internet from the guest (off: its requests get a 403 that says so). */
  outbound: "off" | "on";
}

/**
 * TCP connections from the host into a port of its guest (worker/guest-tcp.ts).
 * Reads wait for data and end with null when the guest closes its side; errors
 * say what happened (refused, no answer, reset, over a limit).
 */
export interface GuestTcpApi {
  network(): GuestNetInfo | null;
  /**
   * Resolves with a connection id once the guest accepts (and has been handed `first`, if given);
   * rejects if it refuses or does not answer.
   */
  tcpOpen(port: number, first?: Uint8Array): Promise<number>;
  /** Returns the bytes written and not yet taken by the guest; throws past the limit. */
  tcpWrite(id: number, bytes: Uint8Array): number;
  tcpRead(id: number, maxBytes?: number): Promise<Uint8Array | null>;
  tcpClose(id: number): void;
}

/**
 * The guest's packets to and from its owner's private network (core/vm/vm-lan.ts):
 * IPv4, as the guest sends them (from its own address) and as it takes them (to it).
 */
export interface GuestLanApi {
  /** Waits for the guest's next packets; null once the VM has stopped. */
  lanTake(): Promise<Uint8Array[] | null>;
  /** Hands the guest packets from its owner's network. */
  lanGive(packets: Uint8Array[]): void;
}

/**
 * Files into and out of the guest's /files (worker/guest-files.ts): in pieces of
 * at most 1 MiB, files of at most 64 MiB, two transfers each way at once. An
 * upload appears in /files only once whole and its SHA-256 checks out.
 */
export interface GuestFilesApi {
  /** Starts putting a file of `bytes` into /files (the name loses any path); returns the upload's id. */
  fileUploadBegin(name: string, bytes: number): number;
  /** The next piece, in order. A piece that does not fit ends the upload. */
  fileUploadChunk(id: number, offset: number, chunk: Uint8Array): void;
  /** Checks every byte is in and the SHA-256; resolves with the file's name in /files. */
  fileUploadEnd(id: number, sha256: string): Promise<string>;
  fileUploadCancel(id: number): void;
  fileList(): GuestFileEntry[];
  fileDownloadBegin(name: string): Promise<GuestFileDownload>;
  fileDownloadChunk(id: number, offset: number, maxBytes?: number): Uint8Array;
  fileDownloadEnd(id: number): void;
  /** The whole disk of a guest whose root is the 9p filesystem, as a tar.gz download (refused otherwise). */
  fileSnapshotBegin(): Promise<GuestFileDownload>;
}

export interface VmHostApi extends GuestTcpApi, GuestLanApi, GuestFilesApi {
  /** Optional: gets the emulator and the likely state ready before `start`, to start faster. */
  prepare(guest: GuestSource, likelyState: StateSource | null): Promise<void>;
  start(request: StartRequest, events: VmHostEvents): Promise<StartResult>;
  input(bytes: Uint8Array): void;
  /** The VM's state; with `base`, as a delta against it (small, and quick to make). */
  snapshot(base?: BaseSource): Promise<VmSnapshot>;
  /** A checkpoint sealed with the VM key: delta against `base`, with the console transcript. */
  sealedCheckpoint(key: CryptoKey, context: string, base: BaseSource): Promise<SealedCheckpoint>;
  /** The console's output stream in shared memory (null where memory cannot be shared). */
  outputRing(): SharedArrayBuffer | null;
  /** What the console shows now (the last 64 KiB). */
  transcript(): string;
  /**
   * A granted tab's shell channel (core/vm/shell-channel.ts), moved here so the
   * output leaves from this thread; the tab has the output up to stream byte
   * `fromByte`. `closed` is called once the channel is given up, for any reason.
   */
  addShellChannel(id: number, channel: RTCDataChannel, fromByte: number, closed: () => void): void;
  closeShellChannel(id: number): void;
  pause(): Promise<void>;
  resume(): Promise<void>;
  setBudget(pct: number): void;
  stats(): VmStats;
  destroy(): Promise<void>;
}

/**
 * The remote shell's channel worker (shell-channel.worker.ts): the page hands it
 * each shell channel (an RTCDataChannel, transferred as soon as it is made) and
 * reads the output from the ring it gets back, in its animation frames.
 */
export type ShellChannelRequest =
  | { t: "add"; id: number; channel: RTCDataChannel }
  | { t: "close"; id: number };

export type ShellChannelEvent =
  /** The channel's output stream in shared memory (null where memory cannot be shared). */
  | { t: "ring"; id: number; ring: SharedArrayBuffer | null }
  /** The host sends this tab's output here from now on. */
  | { t: "hello"; id: number }
  /** Every byte also comes this way, in order, after the ring has it. */
  | { t: "output"; id: number; bytes: Uint8Array }
  | { t: "closed"; id: number; reason: string };
