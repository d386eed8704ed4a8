// TCP connections from the host into its guest, through v86's in-browser
// TCP/IP (worker/guest-nic.ts), behind a small pull API: open a port, write,
// read what the guest sent (waiting for it), close. Connections are numbered,
// so the API crosses comlink as plain values.
//
// Limits, so a guest cannot make its host hold unbounded memory: at most
// `maxConnections` open, at most `maxUnreadBytes` received and not yet read per
// connection (past it the connection is reset and the next read says why), at
// most `maxUnsentBytes` written and not yet taken by the guest. Backpressure:
// each connection advertises to the guest a receive window of what is left of
// its unread budget, so a guest's TCP slows down for a slow reader instead of
// hitting the limit, and the window is announced again when a read frees room.
import { TimeoutError, withTimeout } from "../core/util/async.ts";
import { type Clock, systemClock } from "../core/util/clock.ts";
import type { GuestNic } from "./guest-nic.ts";
import { announceWindow, mendV86Tcp, progressOf, retransmit, type V86TcpMended } from "./v86-tcp.ts";

export interface GuestTcpLimits {
  maxConnections: number;
  maxUnreadBytes: number;
  maxUnsentBytes: number;
  connectTimeoutMs: number;
}

export const DEFAULT_TCP_LIMITS: GuestTcpLimits = {
  maxConnections: 64,
  maxUnreadBytes: 1024 * 1024,
  maxUnsentBytes: 1024 * 1024,
  connectTimeoutMs: 10_000,
};

/** The largest window a TCP header says without window scaling (which v86 does not offer). */
const MAX_WINDOW_BYTES = 65_535;
/** The most a segment carries (the card's 1500-byte MTU less the IP and TCP headers). */
const SEGMENT_BYTES = 1460;
/**
 * v86 acknowledges a segment (with the window) before it hands the segment over,
 * so each window is one segment stale: keep that much in reserve.
 */
const WINDOW_RESERVE_BYTES = 2 * SEGMENT_BYTES;
/**
 * How many source ports one open tries when the guest holds them in TIME_WAIT
 * (v86-tcp.ts). Ports are taken in turn, so a guest restored on a new host may
 * hold a run of them as long as its TIME_WAIT table (512 in the image's guest),
 * each a round trip into the guest: the connect deadline bounds them too.
 */
export const MAX_BUSY_PORTS = 1024;
/**
 * How long a connection waits for the guest to make progress on what it sent
 * (the SYN, a segment) before sending it again; doubled on each try without
 * progress, up to the most.
 */
export const RETRANSMIT_MS = 200;
const MAX_RETRANSMIT_MS = 3200;

interface Entry {
  conn: V86TcpMended;
  chunks: Uint8Array[];
  unreadBytes: number;
  /** The guest closed its side: reads end once the chunks are read. */
  ended: boolean;
  /** Why the connection failed (reset, over a limit); reads reject with it. */
  failure: string | null;
  /** A read waiting for data. */
  wake: (() => void) | null;
  /** The window last advertised was smaller than a segment: announce it when reads free room. */
  windowShut: boolean;
  /** Ends the retransmission watch. */
  unwatch: () => void;
}

export class GuestTcpTable {
  private readonly entries = new Map<number, Entry>();
  private nextId = 1;

  constructor(
    private readonly nic: () => GuestNic | null,
    private readonly limits: GuestTcpLimits = DEFAULT_TCP_LIMITS,
    private readonly clock: Clock = systemClock,
    /**
     * Called whenever the guest has something of this table's to answer (a SYN, an
     * ACK of what it sent, a segment sent again): the VM host's governor runs the
     * guest now rather than after its rest, or each step of an answer would wait
     * a slice.
     */
    private readonly guestHasWork: () => void = () => {},
  ) {}

  /**
   * Connects to `port` in the guest; resolves with the connection's id once the
   * guest accepts. A source port the guest still holds (TIME_WAIT) is given up
   * at once for the next one.
   */
  async open(port: number): Promise<number> {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`not a TCP port: ${port}`);
    const nic = this.nic();
    if (!nic) throw new Error("no VM is running");
    if (this.entries.size >= this.limits.maxConnections)
      throw new Error(`too many connections into the guest (${this.limits.maxConnections} open)`);
    const id = this.nextId++;
    const deadline = this.clock.nowMs() + this.limits.connectTimeoutMs;
    for (let busy = 0; ; busy++) {
      if (busy >= MAX_BUSY_PORTS)
        throw new Error(`the guest holds every source port tried for port ${port} (${busy} in TIME_WAIT)`);
      const { entry, connected } = this.attempt(nic, port);
      this.entries.set(id, entry);
      let outcome: "connected" | "port-busy";
      try {
        outcome = await withTimeout(
          connected,
          Math.max(0, deadline - this.clock.nowMs()),
          `connecting to port ${port} in the guest`,
          this.clock,
        );
      } catch (err) {
        this.drop(id, entry);
        if (err instanceof TimeoutError) throw new Error(`the guest did not answer on port ${port}`);
        throw err;
      }
      if (outcome === "connected") {
        if (this.entries.get(id) === entry) return id;
        throw new Error(entry.failure ?? "the connection was closed");
      }
      // The next connection takes the next source port.
      this.entries.delete(id);
      entry.unwatch();
      entry.conn.release();
    }
  }

  /** One SYN into the guest: its connection, and whether the guest took it. */
  private attempt(
    nic: GuestNic,
    port: number,
  ): { entry: Entry; connected: Promise<"connected" | "port-busy"> } {
    const conn = nic.connect(port) as V86TcpMended;
    this.guestHasWork();
    const entry: Entry = {
      conn,
      chunks: [],
      unreadBytes: 0,
      ended: false,
      failure: null,
      wake: null,
      windowShut: false,
      unwatch: () => {},
    };
    const connected = new Promise<"connected" | "port-busy">((resolve, reject) => {
      conn.on("connect", () => {
        this.guestHasWork();
        resolve("connected");
      });
      conn.on("close", () => {
        reject(new Error(`the guest refused a connection to port ${port}`));
        this.fail(entry, "the guest reset the connection");
      });
      mendV86Tcp(conn, () => resolve("port-busy"));
    });
    conn.on("data", (data) => this.received(entry, data));
    conn.on("shutdown", () => {
      entry.ended = true;
      this.wakeReader(entry);
    });
    this.advertiseWindow(entry);
    this.watch(entry);
    return { entry, connected };
  }

  /** Sends bytes to the guest; refuses past the unsent limit. Resolves with the bytes not yet taken. */
  write(id: number, bytes: Uint8Array): number {
    const entry = this.entry(id);
    if (entry.failure) throw new Error(entry.failure);
    const unsent = (entry.conn.send_buffer?.length ?? 0) + bytes.byteLength;
    if (unsent > this.limits.maxUnsentBytes)
      throw new Error(
        `the guest has not taken ${unsent} bytes written to it (the limit is ${this.limits.maxUnsentBytes})`,
      );
    entry.conn.write(bytes.slice());
    return entry.conn.send_buffer?.length ?? 0;
  }

  /**
   * What the guest sent, up to `maxBytes`: waits until there is some. Resolves
   * null once the guest has closed its side and everything is read; rejects
   * when the connection was reset or went over its limit.
   */
  async read(id: number, maxBytes = 64 * 1024): Promise<Uint8Array | null> {
    const entry = this.entry(id);
    if (entry.wake) throw new Error("a read is already waiting on this connection");
    while (entry.chunks.length === 0 && !entry.ended && !entry.failure)
      await new Promise<void>((resolve) => {
        entry.wake = resolve;
      });
    if (entry.chunks.length === 0) {
      if (entry.failure) throw new Error(entry.failure);
      return null;
    }
    const out = takeBytes(entry.chunks, Math.max(1, maxBytes));
    entry.unreadBytes -= out.byteLength;
    this.advertiseWindow(entry);
    return out;
  }

  /** Closes the host's side (after what was written reaches the guest) and forgets the connection. */
  close(id: number): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.drop(id, entry);
  }

  /** Closes every connection (the VM is going away). */
  closeAll(reason: string): void {
    for (const [id, entry] of this.entries) {
      this.fail(entry, reason);
      this.drop(id, entry);
    }
  }

  get openCount(): number {
    return this.entries.size;
  }

  private entry(id: number): Entry {
    const entry = this.entries.get(id);
    if (!entry) throw new Error(`no open connection ${id} into the guest`);
    return entry;
  }

  private received(entry: Entry, data: Uint8Array): void {
    if (entry.failure) return;
    if (entry.unreadBytes + data.byteLength > this.limits.maxUnreadBytes) {
      this.fail(
        entry,
        `the guest sent more than ${this.limits.maxUnreadBytes} bytes that were not read; the connection was reset`,
      );
      entry.conn.close();
      entry.conn.release();
      return;
    }
    // v86 acknowledged it already: the guest goes on at once.
    this.guestHasWork();
    // v86 hands out a view of the card's buffer, which the next frame overwrites.
    entry.chunks.push(data.slice());
    entry.unreadBytes += data.byteLength;
    this.advertiseWindow(entry);
    this.wakeReader(entry);
  }

  /** Sets the window the connection's next segments advertise; announces it if it had shut. */
  private advertiseWindow(entry: Entry): void {
    const room = Math.max(0, this.limits.maxUnreadBytes - WINDOW_RESERVE_BYTES - entry.unreadBytes);
    const window = Math.min(MAX_WINDOW_BYTES, room);
    entry.conn.winsize = window;
    if (window < SEGMENT_BYTES) {
      entry.windowShut = true;
    } else if (entry.windowShut && entry.conn.state === "established") {
      entry.windowShut = false;
      announceWindow(entry.conn);
      this.guestHasWork();
    }
  }

  private fail(entry: Entry, reason: string): void {
    entry.failure ??= reason;
    this.wakeReader(entry);
  }

  private wakeReader(entry: Entry): void {
    const wake = entry.wake;
    entry.wake = null;
    wake?.();
  }

  /** Sends again what the guest has not taken, while it makes no progress, until the connection ends. */
  private watch(entry: Entry): void {
    let seen = progressOf(entry.conn);
    let waitMs = RETRANSMIT_MS;
    const tick = () => {
      const now = progressOf(entry.conn);
      if (now !== seen) {
        seen = now;
        waitMs = RETRANSMIT_MS;
      } else {
        // Sent again if anything is outstanding; either way the next look comes later.
        if (retransmit(entry.conn)) this.guestHasWork();
        waitMs = Math.min(MAX_RETRANSMIT_MS, waitMs * 2);
      }
      entry.unwatch = this.clock.after(waitMs, tick);
    };
    entry.unwatch = this.clock.after(waitMs, tick);
  }

  private drop(id: number, entry: Entry): void {
    entry.unwatch();
    this.entries.delete(id);
    entry.failure ??= "the connection was closed";
    this.wakeReader(entry);
    entry.conn.close();
  }
}

/** Removes up to `max` bytes from the front of `chunks`. */
function takeBytes(chunks: Uint8Array[], max: number): Uint8Array {
  const first = chunks[0]!;
  if (first.byteLength > max) {
    chunks[0] = first.subarray(max);
    return first.slice(0, max);
  }
  let total = 0;
  let count = 0;
  while (count < chunks.length && total + chunks[count]!.byteLength <= max)
    total += chunks[count++]!.byteLength;
  const parts = chunks.splice(0, count);
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
