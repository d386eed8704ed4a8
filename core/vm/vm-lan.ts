// The owner's private network: the VMs of one owner reach each other at their
// virtual addresses (core/guest/virtual-address.ts) wherever they run. A host
// takes each packet a guest it runs sends to 10.0.0.0/8, gives it the VM's
// virtual address as its source, finds which of the same owner's VMs has the
// destination and who holds that VM's current lease, and sends it there over
// the mesh (or straight in, when it runs that VM too). The receiving host
// hands the packet to its guest only if all of this holds, so a stranger can
// neither reach an owner's VMs nor pose as one of them:
// - it runs the destination VM, and the sending VM has the same owner (a VM
//   record only its owner can sign);
// - the link it came over is the peer holding the sending VM's current lease
//   (signed by that owner);
// - the packet's addresses are the two VMs' virtual addresses;
// - the sender stays within a packet rate (and what a host sends, within its
//   bandwidth cap).
// Names too: a guest's DNS question for "two" (or "two.lan") is answered with
// the address of its owner's VM named "two" (lan-dns.ts).
// IP is best effort: anything that fails a check, or finds no room, is dropped
// and counted, and the guests' TCP sends it again.

import { type DnsQuery, dnsAnswer, lanNameOf, nameLabel, parseDnsQuery } from "../guest/lan-dns.ts";
import { parseIpv4, rewriteAddress } from "../guest/lan-packet.ts";
import { GUEST_IP_BITS, isLanAddress, virtualAddressBitsOf } from "../guest/virtual-address.ts";
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { VmBook } from "../state/vm-book.ts";
import type { Clock } from "../util/clock.ts";
import { TokenBucket } from "../util/token-bucket.ts";
import type { GuestLan } from "./engine.ts";
import type { Hosting } from "./hosting.ts";
import { encodeLanPacket, LAN_PROTOCOL, parseLanPacket } from "./lan-protocol.ts";

export interface VmLanLimits {
  /** Packets a second one peer may send this host's guests (and in a burst). */
  perPeerPacketsPerS: number;
  perPeerBurst: number;
  /** Bytes queued on a link above which packets to it are dropped, as a full NIC would. */
  highWaterBytes: number;
}

export const DEFAULT_VM_LAN_LIMITS: VmLanLimits = {
  perPeerPacketsPerS: 4000,
  perPeerBurst: 8000,
  highWaterBytes: 1024 * 1024,
};

/** A budget of bytes a second for what a host sends for its VMs, and a count of what it takes in. */
export interface ByteBudget {
  take(bytes: number): boolean;
  noteIn(bytes: number): void;
}

export interface VmLanOptions {
  mesh: MeshPort;
  book: VmBook;
  clock: Clock;
  /** The VMs this host runs now (running ones only). */
  hosted(): Hosting[];
  /** Called whenever the set of hosted VMs may have changed; returns the unsubscribe. */
  onHostedChange(fn: () => void): () => void;
  limits?: Partial<VmLanLimits>;
  bandwidth?: ByteBudget;
}

/** Why packets were dropped, for the Network page and the tests. */
export interface LanCounters {
  sent: number;
  delivered: number;
  /** No VM of the owner has the address, or it runs nowhere. */
  noRoute: number;
  /** Failed a check: not the sender's host, another owner, wrong addresses, not a packet. */
  refused: number;
  /** Over a rate, the bandwidth cap or a full link. */
  overLimit: number;
}

interface OwnerNetwork {
  byAddress: Map<number, string>;
  /** By name as a DNS label (lan-dns.ts nameLabel): the oldest VM of a name has it. */
  byName: Map<string, number>;
}

interface Attached {
  hosting: Hosting;
  lan: GuestLan;
}

/** How long a host stays pinned after the last packet sent to it. */
const PIN_IDLE_MS = 60_000;
/** Peers whose rate buckets are kept (the least recent go first). */
const MAX_BUCKETS = 1024;

export class VmLan {
  readonly counters: LanCounters = { sent: 0, delivered: 0, noRoute: 0, refused: 0, overLimit: 0 };
  private readonly limits: VmLanLimits;
  private readonly channel: PeerChannel;
  private readonly attached = new Map<string, Attached>();
  private readonly off: (() => void)[] = [];
  /** Each owner's VMs by virtual address and by name; dropped on any change to VM records or leases. */
  private addresses = new Map<string, Promise<OwnerNetwork>>();
  /** Each VM's current host (by "owner/vmId"), the same way. */
  private hosts = new Map<string, Promise<PeerAddress | null>>();
  private readonly pinned = new Map<PeerAddress, number>();
  private readonly buckets = new Map<PeerAddress, TokenBucket>();

  constructor(private readonly o: VmLanOptions) {
    this.limits = { ...DEFAULT_VM_LAN_LIMITS, ...o.limits };
    this.channel = o.mesh.channel(LAN_PROTOCOL);
    this.off.push(
      this.channel.on("message", (remote, payload) => void this.fromPeer(remote, payload)),
      o.book.observe(() => this.forget()),
      o.onHostedChange(() => this.reattach()),
    );
    this.reattach();
  }

  dispose(): void {
    for (const off of this.off.splice(0)) off();
    for (const a of this.attached.values()) a.lan.close();
    this.attached.clear();
    for (const peer of this.pinned.keys()) this.o.mesh.unpin(peer);
    this.pinned.clear();
  }

  /** Takes the LAN of every VM that runs here now, and lets go of those that stopped or moved. */
  private reattach(): void {
    const now = new Map(this.o.hosted().map((h) => [h.vm.vmId, h] as const));
    for (const [vmId, a] of this.attached) {
      if (now.get(vmId) === a.hosting && a.hosting.engine) continue;
      a.lan.close();
      this.attached.delete(vmId);
    }
    for (const [vmId, h] of now) {
      if (this.attached.has(vmId) || !h.engine?.lan) continue;
      const lan = h.engine.lan((packet) => void this.fromGuest(h, packet));
      this.attached.set(vmId, { hosting: h, lan });
    }
  }

  private forget(): void {
    this.addresses.clear();
    this.hosts.clear();
    const nowMs = this.o.clock.nowMs();
    for (const [peer, usedMs] of this.pinned)
      if (nowMs - usedMs > PIN_IDLE_MS) {
        this.o.mesh.unpin(peer);
        this.pinned.delete(peer);
      }
  }

  /** A packet a guest here sent to its owner's network. */
  private async fromGuest(from: Hosting, packet: Uint8Array): Promise<void> {
    const query = parseDnsQuery(packet);
    if (query) return this.answerName(from, query);
    const header = parseIpv4(packet);
    if (!header || !isLanAddress(header.dst)) {
      this.counters.refused++;
      return;
    }
    const owner = from.vm.owner;
    const out = rewriteAddress(packet, "src", virtualAddressBitsOf(from.vm.vmId));
    const to = (await this.networkOf(owner)).byAddress.get(header.dst);
    if (!out || !to) {
      this.counters.noRoute++;
      return;
    }
    const local = this.attached.get(to);
    if (local && local.hosting.vm.owner === owner) {
      this.counters.sent++;
      this.deliver(local, out);
      return;
    }
    const host = await this.hostOf(owner, to);
    if (!host || host === this.o.mesh.self) {
      this.counters.noRoute++;
      return;
    }
    if (
      this.o.mesh.bufferedBytes(host) > this.limits.highWaterBytes ||
      (this.o.bandwidth && !this.o.bandwidth.take(out.length))
    ) {
      this.counters.overLimit++;
      return;
    }
    if (!this.pinned.has(host)) this.o.mesh.pin(host);
    this.pinned.set(host, this.o.clock.nowMs());
    if (this.channel.send(host, encodeLanPacket({ t: "packet", from: from.vm.vmId, to, packet: out })))
      this.counters.sent++;
    else this.counters.noRoute++;
  }

  /** A packet from another host, for a VM here. */
  private async fromPeer(remote: PeerAddress, bytes: Uint8Array): Promise<void> {
    if (!this.bucketOf(remote).take(1)) {
      this.counters.overLimit++;
      return;
    }
    const m = parseLanPacket(bytes);
    const target = m && this.attached.get(m.to);
    const header = m && parseIpv4(m.packet);
    if (!m || !target || !header) {
      this.counters.refused++;
      return;
    }
    const owner = target.hosting.vm.owner;
    if (
      header.src !== virtualAddressBitsOf(m.from) ||
      header.dst !== virtualAddressBitsOf(m.to) ||
      (await this.networkOf(owner)).byAddress.get(header.src) !== m.from ||
      (await this.hostOf(owner, m.from)) !== remote
    ) {
      this.counters.refused++;
      return;
    }
    this.o.bandwidth?.noteIn(m.packet.length);
    // The VM may have stopped or moved while its owner's records were read.
    const now = this.attached.get(m.to);
    if (now !== target) {
      this.counters.noRoute++;
      return;
    }
    this.deliver(target, m.packet);
  }

  private deliver(target: Attached, packet: Uint8Array): void {
    const inbound = rewriteAddress(packet, "dst", GUEST_IP_BITS);
    if (!inbound) {
      this.counters.refused++;
      return;
    }
    this.counters.delivered++;
    target.lan.deliver(inbound);
  }

  /** A guest's question for a name on its owner's network, answered as its router. */
  private async answerName(from: Hosting, query: DnsQuery): Promise<void> {
    const name = lanNameOf(query.name);
    const self = this.attached.get(from.vm.vmId);
    if (name === null || self?.hosting !== from) return;
    const address = (await this.networkOf(from.vm.owner)).byName.get(name) ?? null;
    self.lan.deliver(dnsAnswer(query, address));
  }

  private networkOf(owner: string): Promise<OwnerNetwork> {
    let known = this.addresses.get(owner);
    if (!known) {
      known = this.o.book.vmsOf(owner).then((vms) => {
        const net: OwnerNetwork = { byAddress: new Map(), byName: new Map() };
        // Two VMs on one address (1 in ~16 million) or of one name: the older record keeps it.
        for (const v of vms.sort((a, b) => a.vm.createdAt - b.vm.createdAt)) {
          const bits = virtualAddressBitsOf(v.vm.vmId);
          if (!net.byAddress.has(bits)) net.byAddress.set(bits, v.vm.vmId);
          const label = nameLabel(v.vm.name);
          if (label && !net.byName.has(label)) net.byName.set(label, bits);
        }
        return net;
      });
      this.addresses.set(owner, known);
    }
    return known;
  }

  private hostOf(owner: string, vmId: string): Promise<PeerAddress | null> {
    const key = `${owner}/${vmId}`;
    let known = this.hosts.get(key);
    if (!known) {
      known = this.o.book.currentLease(vmId, owner).then((l) => l?.lease.host ?? null);
      this.hosts.set(key, known);
    }
    return known;
  }

  private bucketOf(remote: PeerAddress): TokenBucket {
    let bucket = this.buckets.get(remote);
    if (bucket) {
      this.buckets.delete(remote); // kept in order of use
    } else {
      bucket = new TokenBucket(this.limits.perPeerPacketsPerS, this.limits.perPeerBurst, () =>
        this.o.clock.nowMs(),
      );
      if (this.buckets.size >= MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(remote, bucket);
    return bucket;
  }
}
