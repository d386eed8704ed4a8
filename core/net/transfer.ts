// Large payloads between peers (sealed checkpoints): offered, accepted or
// refused, sent in chunks that wait while the link's send buffer is full, and
// acknowledged once the receiver has every byte and the SHA-256 matches. Memory
// on the receiving side is bounded: a cap per transfer, a cap on concurrent
// ones, and an idle timeout.

import { withTimeout } from "../util/async.ts";
import { sha256Hex } from "../util/bytes.ts";
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { errorMessage } from "../util/errors.ts";
import { randomHex } from "../util/hex.ts";
import type { MeshPort, PeerChannel } from "./channels.ts";
import type { PeerAddress } from "./peer-address.ts";
import {
  encodeTransfer,
  parseTransfer,
  TRANSFER_ID_BYTES,
  TRANSFER_PROTOCOL,
  type TransferMessage,
} from "./transfer-protocol.ts";

export interface TransferOffer {
  id: string;
  /** What it is, for the receiver's decision (JSON). */
  meta: unknown;
  bytes: number;
  sha256: string;
}

export interface TransferProgress {
  id: string;
  remote: PeerAddress;
  direction: "in" | "out";
  meta: unknown;
  done: number;
  total: number;
}

export class TransferError extends Error {}

interface TransferEvents {
  progress: (p: TransferProgress) => void;
  received: (remote: PeerAddress, offer: TransferOffer, bytes: Uint8Array) => void;
}

export interface TransferOptions {
  clock: Clock;
  /** Decides whether to take an offer (e.g. only checkpoints of VMs one owns or hosts). */
  accept: (remote: PeerAddress, offer: TransferOffer) => boolean | Promise<boolean>;
  maxBytes?: number;
  maxInbound?: number;
  chunkBytes?: number;
  highWaterBytes?: number;
  timeoutMs?: number;
}

interface Outbound {
  remote: PeerAddress;
  accepted: (ok: boolean, reason: string) => void;
  finished: (ok: boolean, reason: string) => void;
}

interface Inbound {
  remote: PeerAddress;
  offer: TransferOffer;
  buffer: Uint8Array;
  received: number;
  cancelIdle: () => void;
}

/** The options with every limit filled in. */
function resolveTransferOptions(options: TransferOptions): Required<TransferOptions> {
  return {
    ...options,
    maxBytes: options.maxBytes ?? 64 * 1024 * 1024,
    maxInbound: options.maxInbound ?? 4,
    chunkBytes: options.chunkBytes ?? 60 * 1024,
    highWaterBytes: options.highWaterBytes ?? 4 * 1024 * 1024,
    timeoutMs: options.timeoutMs ?? 30_000,
  };
}

export class Transfers {
  private readonly events = new Emitter<TransferEvents>();
  private readonly outbound = new Map<string, Outbound>();
  private readonly inbound = new Map<string, Inbound>();
  private readonly channel: PeerChannel;
  private readonly off: (() => void)[];
  private readonly options: Required<TransferOptions>;

  constructor(
    private readonly mesh: MeshPort,
    options: TransferOptions,
  ) {
    this.options = resolveTransferOptions(options);
    this.channel = mesh.channel(TRANSFER_PROTOCOL);
    this.off = [
      this.channel.on("message", (remote, payload) => {
        const m = parseTransfer(payload);
        if (m) this.receive(remote, m);
      }),
      mesh.on("close", (remote) => this.linkClosed(remote)),
    ];
  }

  on<K extends keyof TransferEvents>(event: K, handler: TransferEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  stop(): void {
    for (const off of this.off.splice(0)) off();
    for (const [id, o] of this.outbound) {
      this.outbound.delete(id);
      o.accepted(false, "stopped");
      o.finished(false, "stopped");
    }
    for (const [id, i] of this.inbound) this.dropInbound(id, i);
    this.events.clear();
  }

  private post(remote: PeerAddress, m: Parameters<typeof encodeTransfer>[0]): boolean {
    return this.channel.send(remote, encodeTransfer(m));
  }

  /** Sends `bytes` to `remote`; resolves once the receiver has verified them. */
  async send(remote: PeerAddress, meta: unknown, bytes: Uint8Array): Promise<void> {
    const id = randomHex(TRANSFER_ID_BYTES);
    const offer: TransferOffer = { id, meta, bytes: bytes.length, sha256: await sha256Hex(bytes) };
    let accepted!: (ok: boolean, reason: string) => void;
    let finished!: (ok: boolean, reason: string) => void;
    const whenAccepted = new Promise<void>((resolve, reject) => {
      accepted = (ok, reason) => (ok ? resolve() : reject(new TransferError(reason)));
    });
    const whenFinished = new Promise<void>((resolve, reject) => {
      finished = (ok, reason) => (ok ? resolve() : reject(new TransferError(reason)));
    });
    whenFinished.catch(() => {});
    this.outbound.set(id, { remote, accepted, finished });
    try {
      if (!this.post(remote, { t: "offer", ...offer }))
        throw new TransferError("no open link to the receiver");
      await this.deadline(whenAccepted, "the receiver's answer to the offer");
      for (let offset = 0; offset < bytes.length; ) {
        if (!this.outbound.has(id)) throw new TransferError("cancelled");
        if (!this.mesh.isOpen(remote)) throw new TransferError("the link closed");
        const end = Math.min(bytes.length, offset + this.options.chunkBytes);
        if (
          this.mesh.bufferedBytes(remote) > this.options.highWaterBytes ||
          !this.post(remote, { t: "chunk", id, offset, data: bytes.subarray(offset, end) })
        ) {
          await new Promise<void>((r) => this.options.clock.after(2, r));
          continue;
        }
        offset = end;
        this.events.emit("progress", {
          id,
          remote,
          direction: "out",
          meta,
          done: offset,
          total: bytes.length,
        });
      }
      await this.deadline(whenFinished, "the receiver's confirmation");
    } catch (err) {
      if (this.outbound.has(id)) this.post(remote, { t: "cancel", id, reason: errorMessage(err) });
      throw err instanceof TransferError ? err : new TransferError(errorMessage(err));
    } finally {
      this.outbound.delete(id);
    }
  }

  private deadline<T>(promise: Promise<T>, what: string): Promise<T> {
    return withTimeout(promise, this.options.timeoutMs, what, this.options.clock);
  }

  private receive(remote: PeerAddress, m: TransferMessage): void {
    const out = this.outbound.get(m.id);
    switch (m.t) {
      case "chunk":
        this.receiveChunk(remote, m);
        return;
      case "offer":
        void this.receiveOffer(remote, m);
        return;
      case "bad-offer":
        this.post(remote, { t: "refuse", id: m.id, reason: m.reason });
        return;
      case "accept":
        if (out?.remote === remote) out.accepted(true, "");
        return;
      case "refuse":
        if (out?.remote === remote) out.accepted(false, `refused: ${m.reason}`);
        return;
      case "done":
        if (out?.remote === remote) out.finished(m.ok, `the receiver rejected the data: ${m.reason}`);
        return;
      case "cancel": {
        if (out?.remote === remote) {
          this.outbound.delete(m.id);
          out.accepted(false, `cancelled: ${m.reason}`);
          out.finished(false, `cancelled: ${m.reason}`);
        }
        const inb = this.inbound.get(m.id);
        if (inb?.remote === remote) this.dropInbound(m.id, inb);
        return;
      }
    }
  }

  private async receiveOffer(
    remote: PeerAddress,
    m: Extract<TransferMessage, { t: "offer" }>,
  ): Promise<void> {
    const { id, bytes } = m;
    const refuse = (reason: string) => this.post(remote, { t: "refuse", id, reason });
    if (bytes > this.options.maxBytes) {
      refuse("too large");
      return;
    }
    if (this.inbound.size >= this.options.maxInbound || this.inbound.has(id)) {
      refuse("busy");
      return;
    }
    const offer: TransferOffer = { id, meta: m.meta, bytes, sha256: m.sha256 };
    let ok = false;
    try {
      ok = await this.options.accept(remote, offer);
    } catch {
      ok = false;
    }
    if (!ok || this.inbound.size >= this.options.maxInbound) {
      refuse("not wanted");
      return;
    }
    const entry: Inbound = {
      remote,
      offer,
      buffer: new Uint8Array(bytes),
      received: 0,
      cancelIdle: () => {},
    };
    this.inbound.set(id, entry);
    this.touch(id, entry);
    this.post(remote, { t: "accept", id });
    if (bytes === 0) void this.complete(id, entry);
  }

  private touch(id: string, entry: Inbound): void {
    entry.cancelIdle();
    entry.cancelIdle = this.options.clock.after(this.options.timeoutMs, () => {
      if (this.inbound.get(id) !== entry) return;
      this.dropInbound(id, entry);
      this.post(entry.remote, { t: "cancel", id, reason: "timed out" });
    });
  }

  private receiveChunk(remote: PeerAddress, m: Extract<TransferMessage, { t: "chunk" }>): void {
    const entry = this.inbound.get(m.id);
    if (!entry || entry.remote !== remote) return;
    if (m.offset !== entry.received || m.offset + m.data.length > entry.offer.bytes) {
      this.dropInbound(m.id, entry);
      this.post(remote, { t: "cancel", id: m.id, reason: "chunk out of order or out of range" });
      return;
    }
    entry.buffer.set(m.data, m.offset);
    entry.received += m.data.length;
    this.touch(m.id, entry);
    this.events.emit("progress", {
      id: m.id,
      remote,
      direction: "in",
      meta: entry.offer.meta,
      done: entry.received,
      total: entry.offer.bytes,
    });
    if (entry.received === entry.offer.bytes) void this.complete(m.id, entry);
  }

  private async complete(id: string, entry: Inbound): Promise<void> {
    this.dropInbound(id, entry);
    const ok = (await sha256Hex(entry.buffer)) === entry.offer.sha256;
    this.post(entry.remote, { t: "done", id, ok, reason: ok ? "" : "SHA-256 mismatch" });
    if (ok) this.events.emit("received", entry.remote, entry.offer, entry.buffer);
  }

  private dropInbound(id: string, entry: Inbound): void {
    entry.cancelIdle();
    if (this.inbound.get(id) === entry) this.inbound.delete(id);
  }

  private linkClosed(remote: PeerAddress): void {
    for (const [id, o] of this.outbound) {
      if (o.remote !== remote) continue;
      this.outbound.delete(id);
      o.accepted(false, "the link closed");
      o.finished(false, "the link closed");
    }
    for (const [id, i] of this.inbound) if (i.remote === remote) this.dropInbound(id, i);
  }
}
