// The host's TCP connections into its guest (worker/guest-tcp.ts) against a
// fake of v86's TCP connection, so a guest can misbehave on purpose: ignore
// the window, never answer, refuse, reset.
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../core/util/clock.ts";
import type { GuestNic, V86TcpConnection } from "../../worker/guest-nic.ts";
import {
  DEFAULT_TCP_LIMITS,
  type GuestTcpLimits,
  GuestTcpTable,
  MAX_BUSY_PORTS,
} from "../../worker/guest-tcp.ts";
import { flushAsync } from "../helpers/eventually.ts";

/** v86's TCPConnection as far as the table uses it; the test plays the guest. */
class FakeConn implements V86TcpConnection {
  state = "syn-sent";
  winsize = 64_240;
  ack = 1000;
  sport = 50_000;
  dport = 80;
  last_received_ackn = 1;
  send_buffer = { length: 0 };
  pending = false;
  /** SYNs and data segments the host sent (what the guest would see). */
  syns = 1;
  segments = 0;
  written: Uint8Array[] = [];
  closed = false;
  released = false;
  /** Windows the host sent in ACKs (what the guest would see). */
  windows: number[] = [];
  /** Segments v86 itself would have taken before the handshake. */
  stray: unknown[] = [];
  private handlers: Record<string, (...args: never[]) => void> = {};
  on(event: string, handler: (...args: never[]) => void): void {
    this.handlers[event] = handler;
  }
  emit(event: string, ...args: unknown[]): void {
    (this.handlers[event] as ((...a: unknown[]) => void) | undefined)?.(...args);
  }
  write(data: Uint8Array): void {
    this.written.push(data);
    this.send_buffer.length += data.byteLength;
    this.pump();
  }
  connect(): void {
    this.state = "syn-sent";
    this.winsize = 64_240;
    this.syns++;
  }
  pump(): void {
    if (this.send_buffer.length === 0 || this.pending) return;
    this.segments++;
    this.pending = true;
  }
  /** The guest acknowledges everything written so far. */
  acknowledge(): void {
    this.last_received_ackn += this.send_buffer.length;
    this.send_buffer.length = 0;
    this.pending = false;
  }
  close(): void {
    this.closed = true;
  }
  release(): void {
    this.released = true;
  }
  process(packet: { tcp: { seq: number } }): void {
    if (this.state === "syn-sent") this.stray.push(packet);
    // A keepalive-like segment: v86 answers it with an ACK carrying the window.
    if (packet.tcp.seq === this.ack - 1) this.windows.push(this.packet_reply(packet).tcp.winsize);
  }
  packet_reply(_packet: unknown): { tcp: { winsize: number } } {
    return { tcp: { winsize: 12_345 } }; // v86 echoes the guest's own window here
  }
  // The guest's side:
  accept(): void {
    this.state = "established";
    this.emit("connect");
  }
  /** A guest holding this source port in TIME_WAIT answers the SYN with a bare ACK. */
  portInTimeWait(): void {
    this.process({ tcp: { seq: 77_000, ack: true, winsize: 29_200 }, tcp_data: new Uint8Array() } as never);
  }
  send(bytes: number): void {
    this.ack += bytes;
    this.emit("data", new Uint8Array(bytes).fill(7));
  }
}

function setup(limits: Partial<GuestTcpLimits> = {}, guestHasWork = () => {}) {
  const conns: FakeConn[] = [];
  const nic = {
    connect: () => {
      const conn = new FakeConn();
      conns.push(conn);
      return conn;
    },
  } as unknown as GuestNic;
  const clock = new ManualClock();
  const table = new GuestTcpTable(() => nic, { ...DEFAULT_TCP_LIMITS, ...limits }, clock, guestHasWork);
  return { table, conns, clock };
}

async function opened(table: GuestTcpTable, conns: FakeConn[]) {
  const id = table.open(80);
  conns.at(-1)!.accept();
  return { id: await id, conn: conns.at(-1)! };
}

describe("GuestTcpTable", () => {
  it("reads what the guest sent, in order, and null once the guest closes its side", async () => {
    const { table, conns } = setup();
    const { id, conn } = await opened(table, conns);
    expect(table.write(id, new TextEncoder().encode("GET /"))).toBe(5);
    expect(new TextDecoder().decode(conn.written[0])).toBe("GET /");
    const reading = table.read(id);
    conn.send(3);
    expect(await reading).toEqual(new Uint8Array([7, 7, 7]));
    conn.send(10);
    expect((await table.read(id, 4))?.byteLength).toBe(4);
    expect((await table.read(id))?.byteLength).toBe(6);
    conn.emit("shutdown");
    expect(await table.read(id)).toBeNull();
    table.close(id);
    expect(conn.closed).toBe(true);
    expect(() => table.write(id, new Uint8Array(1))).toThrow(/no open connection/);
  });

  it("shrinks the window as unread bytes pile up, and announces it again when a read frees room", async () => {
    const { table, conns } = setup({ maxUnreadBytes: 64 * 1024 });
    const { id, conn } = await opened(table, conns);
    const full = conn.winsize;
    conn.send(30_000);
    expect(conn.winsize).toBeLessThan(full - 29_000);
    conn.send(33_000);
    expect(conn.winsize).toBe(0); // shut: a well-behaved guest stops
    expect(conn.windows).toEqual([]);
    await table.read(id, 128 * 1024);
    expect(conn.winsize).toBeGreaterThan(60_000);
    // v86 only acknowledges what the guest sends: the table makes it send the new window now.
    expect(conn.windows).toEqual([conn.winsize]);
  });

  it("resets a guest that ignores the window and sends past the unread limit, and says why", async () => {
    const { table, conns } = setup({ maxUnreadBytes: 10_000 });
    const { id, conn } = await opened(table, conns);
    conn.send(6_000);
    conn.send(6_000);
    expect(conn.released).toBe(true);
    // What arrived within the limit is still read, then the reason.
    expect((await table.read(id))?.byteLength).toBe(6_000);
    await expect(table.read(id)).rejects.toThrow(/sent more than 10000 bytes that were not read/);
  });

  it("refuses to hold more unsent bytes than its limit for a guest that does not take them", async () => {
    const { table, conns } = setup({ maxUnsentBytes: 1_000 });
    const { id } = await opened(table, conns);
    table.write(id, new Uint8Array(900));
    expect(() => table.write(id, new Uint8Array(200))).toThrow(/has not taken 1100 bytes/);
  });

  it("says when the guest refuses, does not answer, or resets", async () => {
    const { table, conns, clock } = setup({ connectTimeoutMs: 5_000, maxConnections: 2 });
    const refused = table.open(8080);
    conns.at(-1)!.emit("close");
    await expect(refused).rejects.toThrow(/refused a connection to port 8080/);

    const silent = table.open(80);
    const expectation = expect(silent).rejects.toThrow(/did not answer on port 80/);
    await clock.advance(5_000);
    await expectation;
    expect(conns.at(-1)!.closed).toBe(true);
    expect(table.openCount).toBe(0);

    const { id, conn } = await opened(table, conns);
    const reading = table.read(id);
    conn.emit("close");
    await expect(reading).rejects.toThrow(/reset the connection/);
  });

  it("takes the next source port at once when the guest still holds one in TIME_WAIT (after a restore)", async () => {
    const { table, conns } = setup();
    const opening = table.open(80);
    conns[0]!.portInTimeWait();
    await flushAsync();
    expect(conns[0]!.released).toBe(true);
    expect(conns[0]!.stray).toEqual([]); // v86 never saw the ACK for a SYN it sent
    conns[1]!.portInTimeWait();
    await flushAsync();
    conns[2]!.accept();
    const id = await opening;
    expect(table.openCount).toBe(1);
    conns[2]!.send(3);
    expect((await table.read(id))?.byteLength).toBe(3);
  });

  it("gives up, and says why, when every source port it tries is held", async () => {
    const { table, conns } = setup();
    const opening = table.open(80);
    const expectation = expect(opening).rejects.toThrow(/holds every source port tried/);
    for (let i = 0; i < MAX_BUSY_PORTS; i++) {
      conns.at(-1)!.portInTimeWait();
      await flushAsync();
    }
    await expectation;
    expect(table.openCount).toBe(0);
  });

  it("sends the SYN and an unacknowledged segment again while the guest makes no progress (a frame stuck in its ring)", async () => {
    const { table, conns, clock } = setup();
    const opening = table.open(80);
    const conn = conns[0]!;
    await clock.advance(199);
    expect(conn.syns).toBe(1);
    await clock.advance(1);
    expect(conn.syns).toBe(2); // the guest never saw the first
    expect(conn.winsize).toBeLessThanOrEqual(65_535); // still this connection's window
    await clock.advance(400);
    expect(conn.syns).toBe(3); // backing off: 200, then 400 ms
    conn.accept();
    const id = await opening;
    table.write(id, new TextEncoder().encode("GET /"));
    expect(conn.segments).toBe(1);
    await clock.advance(1_000); // the write is progress: 200 ms from the look that saw it
    expect(conn.segments).toBe(2);
    conn.acknowledge();
    await clock.advance(10_000);
    expect(conn.segments).toBe(2); // nothing outstanding: nothing sent again
    table.close(id);
    expect(clock.pending).toBe(0); // the watch ends with the connection
  });

  it("wakes the VM's governor whenever the guest has its next step to take, not only on open and write", async () => {
    let wakes = 0;
    const { table, conns } = setup({}, () => wakes++);
    const opening = table.open(80);
    expect(wakes).toBe(1); // the SYN
    conns[0]!.accept();
    const id = await opening;
    expect(wakes).toBe(2); // the handshake's last ACK
    conns[0]!.send(1_460);
    expect(wakes).toBe(3); // v86 acknowledged the head at once: the guest may send the body now
    await table.read(id);
    table.close(id);
  });

  it("holds at most its number of connections, and closes them all when the VM stops", async () => {
    const { table, conns } = setup({ maxConnections: 2 });
    const a = await opened(table, conns);
    await opened(table, conns);
    await expect(table.open(80)).rejects.toThrow(/too many connections into the guest \(2 open\)/);
    const reading = table.read(a.id);
    table.closeAll("the VM stopped");
    await expect(reading).rejects.toThrow(/the VM stopped/);
    expect(conns.every((c) => c.closed)).toBe(true);
    expect(table.openCount).toBe(0);
  });
});
