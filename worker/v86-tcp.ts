// v86 0.5.462's TCP (fake_network.js), for connections from the host into the
// guest: the fields of its connection that worker/guest-tcp.ts reads and sets,
// and the mends for what it gets wrong.
import type { V86TcpConnection } from "./guest-nic.ts";

/** What v86's TCP connection keeps that connections into the guest need (fake_network.js). */
interface V86TcpInternals {
  ack: number;
  sport: number;
  dport: number;
  last_received_ackn?: number;
  send_buffer?: { length: number };
  /** A segment is in flight, not yet acknowledged. */
  pending?: boolean;
  /** Sends the SYN (and resets the sequence numbers to v86's fixed start). */
  connect(): void;
  /** Sends the front of the send buffer unless a segment is in flight. */
  pump(): void;
  process(packet: V86Segment): void;
  packet_reply(packet: V86Segment, options?: unknown): { tcp: { winsize: number } };
}

interface V86Segment {
  tcp: {
    seq: number;
    fin?: boolean;
    syn?: boolean;
    ack?: boolean;
    rst?: boolean;
    winsize: number;
    [field: string]: unknown;
  };
  tcp_data: Uint8Array;
}

export type V86TcpMended = V86TcpConnection & V86TcpInternals;

/**
 * Three things v86 0.5.462's TCP gets wrong for a connection into the guest,
 * mended on this connection only:
 * - every connection starts at the same sequence number, so a guest that still
 *   holds the ports in TIME_WAIT (a restored guest remembers the connections of
 *   its previous host) answers the SYN with a bare ACK and drops it, and v86,
 *   which never sends a SYN again, would wait forever: `portBusy` is called
 *   instead, and the segment goes no further;
 * - a segment that carries the guest's last data and its FIN together loses the
 *   data (v86 takes the FIN first and drops the rest): handled as the data, then
 *   the FIN;
 * - the answer to a probe of a shut window carries the guest's own window, not
 *   this connection's, which would reopen it: it carries this connection's.
 */
export function mendV86Tcp(conn: V86TcpMended, portBusy: () => void = () => {}): void {
  const processOf = conn.process;
  conn.process = function (packet) {
    const { syn, ack, rst } = packet.tcp;
    if (this.state === "syn-sent" && ack && !syn && !rst) {
      portBusy();
      return;
    }
    const length = packet.tcp_data?.byteLength ?? 0;
    if (packet.tcp.fin && length > 0 && packet.tcp.seq === this.ack) {
      processOf.call(this, { ...packet, tcp: { ...packet.tcp, fin: false } });
      processOf.call(this, {
        ...packet,
        tcp: { ...packet.tcp, seq: packet.tcp.seq + length },
        tcp_data: packet.tcp_data.subarray(length),
      });
      return;
    }
    processOf.call(this, packet);
  };
  const replyOf = conn.packet_reply;
  conn.packet_reply = function (packet, options) {
    const reply = replyOf.call(this, packet, options);
    reply.tcp.winsize = this.winsize;
    return reply;
  };
}

/**
 * Makes v86 send an ACK that carries the connection's window now. v86 only
 * acknowledges what the guest sends, so this hands it what a keepalive probe
 * looks like (a segment one before the next expected byte), which it answers.
 */
export function announceWindow(conn: V86TcpMended): void {
  conn.process({
    tcp: {
      sport: conn.dport,
      dport: conn.sport,
      seq: conn.ack - 1,
      ackn: conn.last_received_ackn ?? 0,
      ack: true,
      winsize: 0,
    },
    tcp_data: new Uint8Array(0),
  });
}

/**
 * Sends again what the guest has not acknowledged: the SYN, or the segment in
 * flight. v86 never retransmits, and a frame can sit unnoticed in the guest's
 * ne2k ring (the driver acknowledges the card's receive interrupt after
 * draining the ring, so a frame landing in between waits for the next frame):
 * a duplicate is that next frame, and the guest drops what it already has.
 * Returns whether anything was outstanding.
 */
export function retransmit(conn: V86TcpMended): boolean {
  if (conn.state === "syn-sent") {
    const window = conn.winsize;
    conn.connect();
    conn.winsize = window;
    return true;
  }
  if (conn.pending && (conn.send_buffer?.length ?? 0) > 0) {
    conn.pending = false;
    conn.pump();
    return true;
  }
  return false;
}

/** What changes when a connection moves: the guest answers, acknowledges or sends, or the host writes. */
export const progressOf = (conn: V86TcpMended): string =>
  `${conn.state}/${conn.last_received_ackn ?? ""}/${conn.ack}/${conn.send_buffer?.length ?? 0}`;
