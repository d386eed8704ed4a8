// The guest's network card (v86's ne2k) and v86's own in-browser TCP/IP behind
// it (the "fetch" adapter: DHCP, ARP, DNS, TCP), set up the way every VM runs:
//
// - Outbound internet is off unless the host allows it: the adapter proxies the
//   guest's HTTP through the host's `fetch`, which makes a stranger's traffic
//   come from the contributor's address. Off, its `fetch` is replaced by one
//   that refuses with a clear 403 the guest's wget shows; in fact the guest's
//   connections get that 403 at their first bytes, before v86 would buffer a
//   request, and at most 16 are kept. On, the host's `fetch` is used, but never
//   for the host's own machine or private networks (publicFetch), and a
//   request is bounded. DNS stays the adapter's static answers (the DoH method
//   would call the real `fetch` directly).
// - Packets the guest sends to 10.0.0.0/8 (its owner's private network, see
//   core/vm/vm-lan.ts) are taken before v86's TCP/IP and handed to the host;
//   the host's packets for the guest come in as if from its router.
// - The card's address on the wire is the VM's own MAC (core/guest/guest-mac.ts,
//   derived from the VM id). v86 keeps the MAC the guest believes in (the one in
//   the saved state, shared by every VM restored from the image) and, with
//   `mac_address_translation`, rewrites it to the card's MAC in every frame in
//   and out (Ethernet header, ARP sender, DHCP client address). So a VM is known
//   by its own MAC after a restore or a move, without the guest's cooperation.
//
// v86 0.5.462 has no public API for the card's MAC or the adapter's fetch: the
// fields used here (`v86.cpu.devices.net`, `network_adapter`) are checked when
// attached, so a v86 upgrade that renames them fails loudly, not silently.
import type { V86 } from "v86";
import { macBytes } from "../core/guest/guest-mac.ts";
import { lanNameOf, parseDnsQuery } from "../core/guest/lan-dns.ts";
import { LAN_PREFIX } from "../core/guest/virtual-address.ts";

/** v86 options that give the guest its card and the in-browser network behind it. */
export const GUEST_NET_OPTIONS = {
  net_device: { type: "ne2k", relay_url: "fetch", dns_method: "static" },
  mac_address_translation: true,
} as const;

export const OUTBOUND_REFUSED =
  "Outbound internet is off for this VM: its host does not carry a VM's traffic to the internet.";

/** One of v86's TCP connections into the guest (fake_network.js TCPConnection). */
export interface V86TcpConnection {
  state: string;
  /** The receive window it advertises to the guest, in bytes. */
  winsize: number;
  on(event: "connect" | "shutdown" | "close", handler: () => void): void;
  on(event: "data", handler: (data: Uint8Array) => void): void;
  write(data: Uint8Array): void;
  close(): void;
  release(): void;
}

interface FetchAdapter {
  fetch: (url: string, init?: unknown) => Promise<Response>;
  /** A frame from the guest (v86 hands every one here). */
  send(frame: Uint8Array): void;
  /** A frame to the guest. */
  receive(frame: Uint8Array): void;
  router_mac: Uint8Array;
  connect(port: number): V86TcpConnection;
  /** Called for each SYN from the guest, after the adapter has (or has not) accepted it. */
  on_tcp_connection?: (conn: V86TcpConnection & { tuple: string }) => void;
  respond_text_and_close(conn: V86TcpConnection, status: number, statusText: string, body: string): void;
  tcp_conn: Record<string, V86TcpConnection>;
  vm_mac: Uint8Array;
  vm_ip: Uint8Array;
  router_ip: Uint8Array;
}

interface Ne2kCard {
  mac: Uint8Array;
  memory: Uint8Array;
  mac_address_in_state: Uint8Array | null;
}

interface V86Internals {
  network_adapter?: Partial<FetchAdapter>;
  v86?: { cpu?: { devices?: { net?: Partial<Ne2kCard> } } };
}

/** The card set up on each emulator (see saveGuestState). */
const attached = new WeakMap<V86, GuestNic>();

/**
 * Saves the emulator's state with the card's MAC as the guest believes it: v86
 * stores only the card's MAC, and takes it on restore for the guest's, so a
 * state saved with the VM's MAC in the card would strand a guest that uses the
 * image's. v86 captures the state synchronously when asked, so the card is
 * back on the VM's MAC before anything else runs.
 */
export function saveGuestState(emulator: V86): Promise<ArrayBuffer> {
  return attached.get(emulator)?.saveState() ?? emulator.save_state();
}

const macText = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");

/**
 * Where a guest allowed out may not go: the host's own machine and the private
 * networks around it (v86 maps "<port>.external" to the host's localhost).
 * Names that resolve to such addresses cannot be told from a browser; only
 * literal addresses and local names are refused.
 */
export function isPrivateTarget(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return true;
  }
  if (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host.endsWith(".local") ||
    host.endsWith(".external")
  )
    return true;
  if (host.startsWith("[")) return true; // IPv6 literals: loopback, link-local and private ones alike
  const ip = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (!ip) return false;
  const [a, b] = [Number(ip[1]), Number(ip[2])];
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127) ||
    a >= 224
  );
}

/** The host's `fetch` for a guest allowed out, refusing the host's own machine and networks. */
export function publicFetch(fetchOf: FetchAdapter["fetch"]): FetchAdapter["fetch"] {
  return (url, init) =>
    isPrivateTarget(url)
      ? Promise.resolve(
          new Response("This VM may reach the internet, but not its host's own machine or network.\n", {
            status: 403,
            statusText: "Private Address",
            headers: { "content-type": "text/plain" },
          }),
        )
      : fetchOf(url, init);
}

/** Refuses every request the guest makes to the outside, and says why. */
export function refuseOutbound(): Promise<Response> {
  return Promise.resolve(
    new Response(`${OUTBOUND_REFUSED}\n`, {
      status: 403,
      statusText: "Outbound Off",
      headers: { "content-type": "text/plain" },
    }),
  );
}

/**
 * At most this many connections the guest opened (to the adapter's port-80
 * proxy) are kept; a SYN past them is reset, so a guest cannot grow its host's
 * connection table without end.
 */
export const MAX_GUEST_CONNECTIONS = 16;

/** The most a guest allowed out may send in one request (headers and body). */
export const MAX_OUTBOUND_REQUEST_BYTES = 8 * 1024 * 1024;

/** How many source ports v86 0.5.462 takes connections into the guest from (49152 on). */
const V86_DYNAMIC_PORTS = 16_383;

/** Packets from the owner's network a guest may have waiting (past them, they are dropped). */
export const MAX_LAN_QUEUE = 512;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERNET_HEADER_BYTES = 14;

export class GuestNic {
  private readonly wireMac: Uint8Array;
  /** Whether the guest may reach the internet (HTTP through the host's fetch). */
  outbound = false;
  /** Where the guest's packets to the owner's network go (null: dropped). */
  private lanOut: ((packet: Uint8Array) => void) | null = null;
  private nextPortTurn = 0;
  /** The connections the host opened into the guest (the rest the guest opened). */
  private readonly own = new WeakSet<V86TcpConnection>();

  private constructor(
    private readonly emulator: V86,
    private readonly adapter: FetchAdapter,
    private readonly card: Ne2kCard,
    mac: string,
  ) {
    this.wireMac = macBytes(mac);
  }

  /**
   * Sets up the card of an emulator made with GUEST_NET_OPTIONS: outbound off and
   * the VM's MAC on the wire. Call it before the emulator first runs (after a
   * restore, if any), so a guest booting from scratch reads that MAC too.
   */
  static attach(emulator: V86, mac: string, options: { outbound?: boolean } = {}): GuestNic {
    const internals = emulator as unknown as V86Internals;
    const adapter = internals.network_adapter;
    const card = internals.v86?.cpu?.devices?.net;
    if (
      !adapter ||
      typeof adapter.connect !== "function" ||
      typeof adapter.respond_text_and_close !== "function" ||
      typeof adapter.tcp_conn !== "object" ||
      !(adapter.vm_ip instanceof Uint8Array)
    )
      throw new Error("this emulator has no in-browser network (v86's fetch adapter)");
    if (!card || !(card.mac instanceof Uint8Array) || !(card.memory instanceof Uint8Array))
      throw new Error("this emulator has no ne2k network card where v86 0.5.462 keeps it");
    if (typeof adapter.send !== "function" || typeof adapter.receive !== "function")
      throw new Error("this emulator's network adapter has no send/receive where v86 0.5.462 keeps them");
    const nic = new GuestNic(emulator, adapter as FetchAdapter, card as Ne2kCard, mac);
    nic.outbound = options.outbound === true;
    const fetchOf = nic.adapter.fetch;
    nic.adapter.fetch = nic.outbound ? publicFetch(fetchOf.bind(nic.adapter)) : refuseOutbound;
    nic.adapter.on_tcp_connection = nic.onGuestConnection;
    // Packets to the owner's private network leave here, before v86's TCP/IP sees them.
    const sendOf = nic.adapter.send;
    nic.adapter.send = (frame: Uint8Array) => {
      if (!nic.takeLanFrame(frame)) sendOf.call(nic.adapter, frame);
    };
    // After a restore the guest believes in the state's MAC; booting from scratch, in the ROM's.
    nic.assertWireMac(nic.card.mac_address_in_state);
    // The card's address ROM, which a guest booting from scratch reads its MAC from.
    for (let i = 0; i < 6; i++) {
      nic.card.memory[i << 1] = nic.wireMac[i]!;
      nic.card.memory[(i << 1) | 1] = nic.wireMac[i]!;
    }
    emulator.add_listener("net0-send", nic.onGuestFrame);
    attached.set(emulator, nic);
    return nic;
  }

  /** Connections the guest opened that the adapter still keeps. */
  get guestConnections(): number {
    let count = 0;
    for (const conn of Object.values(this.adapter.tcp_conn)) if (!this.own.has(conn)) count++;
    return count;
  }

  /** The VM's MAC, as the network outside the guest sees it. */
  get mac(): string {
    return macText(this.wireMac);
  }

  /** The address the adapter's DHCP server gives the guest. */
  get guestIp(): string {
    return Array.from(this.adapter.vm_ip).join(".");
  }

  /**
   * Opens a TCP connection into the guest (the guest answers with SYN-ACK or RST later).
   *
   * v86 picks the host's source port at random from 16383, and starts every
   * connection at the same sequence number; the guest keeps each closed
   * connection's ports in TIME_WAIT for a minute and will not take a new SYN on
   * them, so a few hundred requests a minute would hang on a repeat. Ports are
   * taken in turn instead (one comes back after 16383 connections), by steering
   * the one random draw v86 makes for it, synchronously, inside this call.
   */
  connect(port: number): V86TcpConnection {
    const turn = this.nextPortTurn;
    this.nextPortTurn = (turn + 1) % V86_DYNAMIC_PORTS;
    const random = Math.random;
    Math.random = () => (turn + 0.5) / V86_DYNAMIC_PORTS;
    let conn: V86TcpConnection;
    try {
      conn = this.adapter.connect(port);
    } finally {
      Math.random = random;
    }
    this.own.add(conn);
    return conn;
  }

  /** The emulator's state, with the MAC the guest believes in on the card (see saveGuestState). */
  saveState(): Promise<ArrayBuffer> {
    const { mac, mac_address_in_state: guestMac } = this.card;
    if (guestMac) {
      this.card.mac = new Uint8Array(guestMac);
      this.card.mac_address_in_state = null;
    }
    try {
      return this.emulator.save_state();
    } finally {
      this.card.mac = mac;
      this.card.mac_address_in_state = guestMac;
    }
  }

  /** The guest's packets to its owner's network (10.0.0.0/8) go to `onPacket` from now on (null: dropped). */
  openLan(onPacket: ((packet: Uint8Array) => void) | null): void {
    this.lanOut = onPacket;
  }

  /** Hands the guest an IPv4 packet from its owner's network, as if from its router. */
  deliverLan(packet: Uint8Array): void {
    const frame = new Uint8Array(ETHERNET_HEADER_BYTES + packet.length);
    frame.set(this.adapter.vm_mac, 0);
    frame.set(this.adapter.router_mac, 6);
    frame[12] = ETHERTYPE_IPV4 >> 8;
    frame[13] = ETHERTYPE_IPV4 & 0xff;
    frame.set(packet, ETHERNET_HEADER_BYTES);
    this.adapter.receive(frame);
  }

  /**
   * Whether `frame` is an IPv4 packet to the owner's network, or a DNS query for
   * a name on it: then it is taken (handed on or dropped).
   */
  private takeLanFrame(frame: Uint8Array): boolean {
    if (frame.length < ETHERNET_HEADER_BYTES + 20) return false;
    if (((frame[12]! << 8) | frame[13]!) !== ETHERTYPE_IPV4) return false;
    if (frame[ETHERNET_HEADER_BYTES + 16] === LAN_PREFIX) {
      this.lanOut?.(frame.slice(ETHERNET_HEADER_BYTES));
      return true;
    }
    // A name on the owner's network ("two", "two.lan"): the host answers it, while the LAN is open.
    if (!this.lanOut || frame[ETHERNET_HEADER_BYTES + 9] !== 17) return false;
    const packet = frame.subarray(ETHERNET_HEADER_BYTES);
    const query = parseDnsQuery(packet);
    if (!query || lanNameOf(query.name) === null) return false;
    this.lanOut(packet.slice());
    return true;
  }

  dispose(): void {
    this.lanOut = null;
    this.emulator.remove_listener("net0-send", this.onGuestFrame);
    attached.delete(this.emulator);
  }

  /**
   * A connection the guest opens: v86 accepts port 80 and would parse an HTTP
   * request out of it (buffering without limit until the headers end) to fetch
   * it from the internet. Outbound off, the first bytes get the 403 and the
   * connection closes; anything more is dropped. Outbound on, v86 fetches it,
   * and a request past MAX_OUTBOUND_REQUEST_BYTES gets a 413 instead. Past
   * MAX_GUEST_CONNECTIONS the SYN is reset.
   */
  private readonly onGuestConnection = (conn: V86TcpConnection & { tuple: string }): void => {
    if (this.adapter.tcp_conn[conn.tuple] !== conn) return; // not accepted: v86 resets it
    if (this.guestConnections > MAX_GUEST_CONNECTIONS) {
      conn.release(); // v86 then answers the SYN with a reset
      return;
    }
    // v86 leaves a connection the guest closed waiting for this side forever: close it too.
    conn.on("shutdown", () => conn.close());
    if (this.outbound) {
      this.boundRequest(conn);
      return;
    }
    let answered = false;
    conn.on("data", () => {
      if (answered) return;
      answered = true;
      this.adapter.respond_text_and_close(conn, 403, "Outbound Off", `${OUTBOUND_REFUSED}\n`);
    });
  };

  /**
   * A guest that reopens its card (`ip link set eth0 down; up`) writes the MAC it
   * believes in into the card's registers, which would end the translation and
   * strand connections addressed to the VM's MAC: put the VM's MAC back, and
   * translate from whatever the guest now uses.
   */
  /** Lets v86 read the guest's request (to fetch it), up to MAX_OUTBOUND_REQUEST_BYTES. */
  private boundRequest(conn: V86TcpConnection): void {
    const handlers = (conn as unknown as { events_handlers?: Record<string, (data: Uint8Array) => void> })
      .events_handlers;
    const v86Data = handlers?.data;
    if (!v86Data) return;
    let bytes = 0;
    let refused = false;
    conn.on("data", (data) => {
      if (refused) return;
      bytes += data.length;
      if (bytes <= MAX_OUTBOUND_REQUEST_BYTES) return v86Data.call(conn, data);
      refused = true;
      this.adapter.respond_text_and_close(conn, 413, "Request Too Large", "The request is too large.\n");
    });
  }

  private readonly onGuestFrame = (): void => {
    if (!sameMac(this.card.mac, this.wireMac)) this.assertWireMac(this.card.mac);
  };

  /** Puts the VM's MAC on the card, translated from `guestMac` (the MAC the guest uses). */
  private assertWireMac(guestMac: Uint8Array | null): void {
    this.card.mac_address_in_state =
      guestMac && !sameMac(guestMac, this.wireMac) ? new Uint8Array(guestMac) : null;
    this.card.mac = new Uint8Array(this.wireMac);
    this.adapter.vm_mac = new Uint8Array(this.wireMac);
  }
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}
