// What runs one VM, and the crypto contexts both sides of a VM agree on.
import type { SideChannel } from "../net/side-channel.ts";
import type { GuestFilePort } from "./file-transfer.ts";

/** A TCP connection into the guest (v86's network adapter, on the host). */
export interface GuestConnection {
  write(bytes: Uint8Array): void;
  close(): void;
  onData(handler: (bytes: Uint8Array) => void): void;
  /** The guest closed it (or it could not be opened). */
  onClose(handler: () => void): void;
}

/**
 * The guest's side of its owner's private network (core/vm/vm-lan.ts). What the
 * guest sends to 10.0.0.0/8 comes out as IPv4 packets from its own address.
 */
export interface GuestLan {
  /** Hands the guest an IPv4 packet addressed to the guest's own address; dropped when it is busy. */
  deliver(packet: Uint8Array): void;
  close(): void;
}

/** What runs one VM (a Web Worker in the browser, v86 directly in Node tests). */
export interface VmEngine {
  /** Boots from the image, or restores sealed checkpoint bytes (throws if they do not open). */
  start(options: {
    imageId: string;
    /** The VM's id: its MAC on the network is derived from it (core/guest/guest-mac.ts). */
    vmId?: string;
    /**
     * The VM's memory (its record's); absent: the image's. A fresh VM whose memory
     * is not the image's saved state's boots from scratch.
     */
    memoryBytes?: number;
    sealed: { bytes: Uint8Array; key: CryptoKey; context: string } | null;
    budgetPct: number;
    onOutput: (bytes: Uint8Array) => void;
    /**
     * Whether the guest may reach the internet (HTTP through the host's `fetch`);
     * off (the default), its requests get a 403 that says why.
     */
    outbound?: boolean;
  }): Promise<void>;
  input(bytes: Uint8Array): void;
  /** Saves, packs (delta against the image, gzip) and seals the VM's state. */
  checkpoint(
    key: CryptoKey,
    context: string,
  ): Promise<{ sealed: Uint8Array; rawBytes: number; saveMs: number; packMs: number }>;
  transcript(): Promise<string>;
  /**
   * Optional: takes a granted tab's shell channel (shell-channel.ts) to the thread
   * that makes the output, which sends the tab everything from stream byte
   * `fromByte` on (the output already handed to `onOutput` counts). Returns what
   * ends it, or null when the channel cannot move; `closed` says it was given up.
   */
  shellChannel?(channel: SideChannel, fromByte: number, closed: () => void): (() => void) | null;
  setBudget(pct: number): void;
  /** Optional: files into and out of the guest's /files (null while it does not run). */
  files?(): GuestFilePort | null;
  /** Stops the guest's clock (its state stays in memory, as it was) until `resume`. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** `diskBytes`: what the guest's disk holds (a Debian guest's root; absent where there is none). */
  stats(): Promise<{ usedPct: number; instructions: number; diskBytes?: number }>;
  /**
   * Opens a TCP connection to `port` in the guest, and sends it `first` as soon as it is open
   * (one step, not two: in a worker that saves a round trip); absent where the guest has no network.
   */
  connect?(port: number, first?: Uint8Array): Promise<GuestConnection>;
  /** Opens the guest's side of its owner's private network; absent where the guest has no network. */
  lan?(onPacket: (packet: Uint8Array) => void): GuestLan;
  stop(): Promise<void>;
}

/** What a checkpoint is sealed under: it opens only as this VM, epoch and seq. */
export const checkpointContext = (vmId: string, epoch: number, seq: number) =>
  `checkpoint/${vmId}/${epoch}/${seq}`;

/** What the VM key is sealed to the host under: it opens only for this VM and epoch. */
export const vmKeyContext = (vmId: string, epoch: number) => `vm-key/${vmId}/${epoch}`;

/**
 * What the key of an older epoch `from` is sealed to the host of `epoch` under, so
 * it can restore a checkpoint made in `from`: it opens only for this VM, this
 * epoch's host and that older epoch.
 */
export const restoreKeyContext = (vmId: string, epoch: number, from: number) =>
  `restore-key/${vmId}/${epoch}/${from}`;
