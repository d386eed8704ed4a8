// Large payloads between peers (sealed checkpoints): offered, accepted or
// refused, sent in chunks that wait while the link's send buffer is full, and
// acknowledged once the receiver has every byte and the SHA-256 matches. Memory
// on the receiving side is bounded: a cap per transfer, a cap on concurrent
// ones, and an idle timeout.

import { sha256Hex } from "../util/bytes.ts";
import type { Clock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { fromHex, randomHex, toHex } from "../util/hex.ts";
import type { PeerAddress } from "./peer-address.ts";
import { Channel } from "./wire.ts";

export interface TransferMesh {
  on(event: "message", handler: (remote: PeerAddress, data: Uint8Array) => void): () => void;
  on(event: "close", handler: (remote: PeerAddress) => void): () => void;
  send(remote: PeerAddress, data: Uint8Array): boolean;
  bufferedBytes(remote: PeerAddress): number;
  isOpen(remote: PeerAddress): boolean;
}

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

const OFFER = 0;
const ACCEPT = 1;
const REFUSE = 2;
const CHUNK = 3;
const DONE = 4;
const CANCEL = 5;
const ID_BYTES = 16;
const CHUNK_HEADER = 2 + ID_BYTES + 4;

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

function control(kind: number, body: object): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(body));
  const out = new Uint8Array(json.length + 2);
  out[0] = Channel.Transfer;
  out[1] = kind;
  out.set(json, 2);
  return out;
}

const ID_PATTERN = /^[0-9a-f]{32}$/;

export class Transfers {
  private readonly events = new Emitter<TransferEvents>();
  private readonly outbound = new Map<string, Outbound>();
  private readonly inbound = new Map<string, Inbound>();
  private readonly off: (() => void)[];
  private readonly maxBytes: number;
  private readonly maxInbound: number;
  private readonly chunkBytes: number;
  private readonly highWaterBytes: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly mesh: TransferMesh,
    private readonly options: TransferOptions,
  ) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.maxInbound = options.maxInbound ?? 4;
    this.chunkBytes = options.chunkBytes ?? 60 * 1024;
    this.highWaterBytes = options.highWaterBytes ?? 4 * 1024 * 1024;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.off = [
      mesh.on("message", (remote, data) => {
        if (data[0] === Channel.Transfer) this.receive(remote, data);
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

  /** Sends `bytes` to `remote`; resolves once the receiver has verified them. */
  async send(remote: PeerAddress, meta: unknown, bytes: Uint8Array): Promise<void> {
    const id = randomHex(ID_BYTES);
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
      if (!this.mesh.send(remote, control(OFFER, offer)))
        throw new TransferError("no open link to the receiver");
      await this.withTimeout(whenAccepted, "the receiver did not answer the offer");
      const header = new Uint8Array(CHUNK_HEADER);
      header[0] = Channel.Transfer;
      header[1] = CHUNK;
      header.set(fromHex(id, ID_BYTES), 2);
      for (let offset = 0; offset < bytes.length; ) {
        if (!this.outbound.has(id)) throw new TransferError("cancelled");
        if (!this.mesh.isOpen(remote)) throw new TransferError("the link closed");
        if (this.mesh.bufferedBytes(remote) > this.highWaterBytes) {
          await new Promise<void>((r) => this.options.clock.after(2, r));
          continue;
        }
        const end = Math.min(bytes.length, offset + this.chunkBytes);
        const chunk = new Uint8Array(CHUNK_HEADER + end - offset);
        chunk.set(header);
        new DataView(chunk.buffer).setUint32(2 + ID_BYTES, offset);
        chunk.set(bytes.subarray(offset, end), CHUNK_HEADER);
        if (!this.mesh.send(remote, chunk)) {
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
      await this.withTimeout(whenFinished, "the receiver did not confirm");
    } catch (err) {
      if (this.outbound.has(id)) this.mesh.send(remote, control(CANCEL, { id, reason: String(err) }));
      throw err instanceof TransferError ? err : new TransferError(String(err));
    } finally {
      this.outbound.delete(id);
    }
  }

  private withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
    let cancel: () => void = () => {};
    const timeout = new Promise<never>((_, reject) => {
      cancel = this.options.clock.after(this.timeoutMs, () => reject(new TransferError(what)));
    });
    return Promise.race([promise, timeout]).finally(cancel);
  }

  private receive(remote: PeerAddress, data: Uint8Array): void {
    const kind = data[1];
    if (kind === CHUNK) {
      this.receiveChunk(remote, data);
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(new TextDecoder().decode(data.subarray(2)));
    } catch {
      return;
    }
    if (typeof body !== "object" || body === null || typeof body.id !== "string" || !ID_PATTERN.test(body.id))
      return;
    const id = body.id;
    const reason = typeof body.reason === "string" ? body.reason.slice(0, 200) : "";
    const out = this.outbound.get(id);
    switch (kind) {
      case OFFER:
        void this.receiveOffer(remote, body);
        return;
      case ACCEPT:
        if (out?.remote === remote) out.accepted(true, "");
        return;
      case REFUSE:
        if (out?.remote === remote) out.accepted(false, `refused: ${reason}`);
        return;
      case DONE:
        if (out?.remote === remote)
          out.finished(body.ok === true, `the receiver rejected the data: ${reason}`);
        return;
      case CANCEL: {
        if (out?.remote === remote) {
          this.outbound.delete(id);
          out.accepted(false, `cancelled: ${reason}`);
          out.finished(false, `cancelled: ${reason}`);
        }
        const inb = this.inbound.get(id);
        if (inb?.remote === remote) this.dropInbound(id, inb);
        return;
      }
    }
  }

  private async receiveOffer(remote: PeerAddress, body: Record<string, unknown>): Promise<void> {
    const id = body.id as string;
    const bytes = body.bytes;
    const refuse = (reason: string) => this.mesh.send(remote, control(REFUSE, { id, reason }));
    if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 0 || bytes > this.maxBytes) {
      refuse("too large");
      return;
    }
    if (typeof body.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(body.sha256)) {
      refuse("bad offer");
      return;
    }
    if (this.inbound.size >= this.maxInbound || this.inbound.has(id)) {
      refuse("busy");
      return;
    }
    const offer: TransferOffer = { id, meta: body.meta, bytes, sha256: body.sha256 };
    let ok = false;
    try {
      ok = await this.options.accept(remote, offer);
    } catch {
      ok = false;
    }
    if (!ok || this.inbound.size >= this.maxInbound) {
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
    this.mesh.send(remote, control(ACCEPT, { id }));
    if (bytes === 0) void this.complete(id, entry);
  }

  private touch(id: string, entry: Inbound): void {
    entry.cancelIdle();
    entry.cancelIdle = this.options.clock.after(this.timeoutMs, () => {
      if (this.inbound.get(id) !== entry) return;
      this.dropInbound(id, entry);
      this.mesh.send(entry.remote, control(CANCEL, { id, reason: "timed out" }));
    });
  }

  private receiveChunk(remote: PeerAddress, data: Uint8Array): void {
    if (data.length < CHUNK_HEADER) return;
    const id = toHex(data.subarray(2, 2 + ID_BYTES));
    const entry = this.inbound.get(id);
    if (!entry || entry.remote !== remote) return;
    const offset = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(2 + ID_BYTES);
    const payload = data.subarray(CHUNK_HEADER);
    if (offset !== entry.received || offset + payload.length > entry.offer.bytes) {
      this.dropInbound(id, entry);
      this.mesh.send(remote, control(CANCEL, { id, reason: "chunk out of order or out of range" }));
      return;
    }
    entry.buffer.set(payload, offset);
    entry.received += payload.length;
    this.touch(id, entry);
    this.events.emit("progress", {
      id,
      remote,
      direction: "in",
      meta: entry.offer.meta,
      done: entry.received,
      total: entry.offer.bytes,
    });
    if (entry.received === entry.offer.bytes) void this.complete(id, entry);
  }

  private async complete(id: string, entry: Inbound): Promise<void> {
    this.dropInbound(id, entry);
    const ok = (await sha256Hex(entry.buffer)) === entry.offer.sha256;
    this.mesh.send(entry.remote, control(DONE, { id, ok, reason: ok ? "" : "SHA-256 mismatch" }));
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
