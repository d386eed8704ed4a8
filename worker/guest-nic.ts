// The guest's network card (v86's ne2k) and v86's own in-browser TCP/IP behind
// it (the "fetch" adapter: DHCP, ARP, DNS, TCP), set up the way every VM runs:
//
// - Outbound internet is off: the adapter proxies the guest's HTTP through the
//   host's `fetch`, which would make a stranger's traffic come from the
//   contributor's address. Its `fetch` is replaced by one that refuses with a
//   clear 403 the guest's wget shows; in fact the guest's connections get that
//   403 at their first bytes, before v86 would buffer a request, and at most 16
//   are kept. DNS stays the adapter's static answers (the DoH method would call
//   the real `fetch` directly).
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

/** How many source ports v86 0.5.462 takes connections into the guest from (49152 on). */
const V86_DYNAMIC_PORTS = 16_383;

export class GuestNic {
  private readonly wireMac: Uint8Array;
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
  static attach(emulator: V86, mac: string): GuestNic {
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
    const nic = new GuestNic(emulator, adapter as FetchAdapter, card as Ne2kCard, mac);
    nic.adapter.fetch = refuseOutbound;
    nic.adapter.on_tcp_connection = nic.onGuestConnection;
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

  dispose(): void {
    this.emulator.remove_listener("net0-send", this.onGuestFrame);
    attached.delete(this.emulator);
  }

  /**
   * A guest that reopens its card (`ip link set eth0 down; up`) writes the MAC it
   * believes in into the card's registers, which would end the translation and
   * strand connections addressed to the VM's MAC: put the VM's MAC back, and
   * translate from whatever the guest now uses.
   */
  /**
   * A connection the guest opens: v86 accepts port 80 and would parse an HTTP
   * request out of it (buffering without limit until the headers end) to fetch
   * it from the internet. Outbound is off, so the first bytes get the 403 and
   * the connection closes; anything more is dropped. Past MAX_GUEST_CONNECTIONS
   * the SYN is reset.
   */
  private readonly onGuestConnection = (conn: V86TcpConnection & { tuple: string }): void => {
    if (this.adapter.tcp_conn[conn.tuple] !== conn) return; // not accepted: v86 resets it
    if (this.guestConnections > MAX_GUEST_CONNECTIONS) {
      conn.release(); // v86 then answers the SYN with a reset
      return;
    }
    // v86 leaves a connection the guest closed waiting for this side forever: close it too.
    conn.on("shutdown", () => conn.close());
    let answered = false;
    conn.on("data", () => {
      if (answered) return;
      answered = true;
      this.adapter.respond_text_and_close(conn, 403, "Outbound Off", `${OUTBOUND_REFUSED}\n`);
    });
  };

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
