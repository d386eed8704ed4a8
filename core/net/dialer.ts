// Which links the mesh opens: each peer keeps links to its two neighbours on a
// ring of all members (sorted by address: this keeps the mesh connected), to the
// peers it pins, and to random others up to a target degree. It accepts links up
// to a cap, where a ring neighbour or pinned peer still gets in by making an
// ordinary link give way. A failed attempt makes that peer wait, with a backoff
// that grows with each failure; one that failed to prove who it is is also
// refused when it dials in, until its backoff is over. The dialer checks this
// now and then, and soon after anything changes.
import type { Clock } from "../util/clock.ts";
import type { LinkEntry, LinkTable } from "./link-table.ts";
import type { PeerAddress } from "./peer-address.ts";

export interface DialerOptions {
  clock: Clock;
  /** Links this peer opens on its own (ring neighbours included). */
  targetDegree: number;
  /** Most links it keeps, counting links others opened. */
  maxDegree: number;
  maintainIntervalMs: number;
  random: () => number;
}

/** What the dialer needs of the mesh. */
export interface DialerHost {
  readonly self: PeerAddress;
  readonly links: LinkTable;
  /** The other members of the room. */
  members(): PeerAddress[];
  /** Opens a link to `remote` as the initiator of `attempt`. */
  dial(remote: PeerAddress, attempt: string): void;
  /** Drops an ordinary link to make room for a ring neighbour or pinned peer. */
  makeWay(entry: LinkEntry): void;
}

interface Backoff {
  untilMs: number;
  failures: number;
  /** It failed to prove who it is: its own attempts are refused too, until `untilMs`. */
  distrusted: boolean;
}

export class Dialer {
  private readonly backoff = new Map<PeerAddress, Backoff>();
  private readonly pinned = new Set<PeerAddress>();
  private cancelMaintain: (() => void) | null = null;
  private attemptSeq = 0;
  private running = false;

  constructor(
    private readonly host: DialerHost,
    private readonly options: DialerOptions,
  ) {}

  start(): void {
    this.running = true;
    this.soon();
  }

  stop(): void {
    this.running = false;
    this.cancelMaintain?.();
    this.cancelMaintain = null;
  }

  /** Looks at the links again right away (something changed). */
  soon(): void {
    if (!this.running) return;
    this.cancelMaintain?.();
    this.cancelMaintain = this.options.clock.after(0, () => this.maintain());
  }

  pin(remote: PeerAddress): void {
    this.pinned.add(remote);
    this.backoff.delete(remote);
    this.soon();
  }

  unpin(remote: PeerAddress): void {
    this.pinned.delete(remote);
  }

  isPinned(remote: PeerAddress): boolean {
    return this.pinned.has(remote);
  }

  /** A link to `remote` opened: its next failure starts the backoff afresh. */
  succeeded(remote: PeerAddress): void {
    this.backoff.delete(remote);
  }

  /** An attempt failed (or was refused): `remote` waits at least `minMs` before the next. */
  penalize(remote: PeerAddress, minMs = 1000, distrusted = false): void {
    const failures = (this.backoff.get(remote)?.failures ?? 0) + 1;
    const delayMs =
      Math.min(60_000, Math.max(minMs, 1000 * 2 ** (failures - 1))) * (0.75 + this.options.random() * 0.5);
    this.backoff.set(remote, { untilMs: this.options.clock.nowMs() + delayMs, failures, distrusted });
  }

  /** `remote` sent a bad proof of identity: it waits, and its own attempts are refused meanwhile. */
  distrust(remote: PeerAddress): void {
    this.penalize(remote, 1000, true);
  }

  /** Whether attempts `remote` starts are refused for now (it failed to prove who it is). */
  distrusts(remote: PeerAddress): boolean {
    const b = this.backoff.get(remote);
    return !!b?.distrusted && b.untilMs > this.options.clock.nowMs();
  }

  /** Whether a link to `remote` fits: under the cap, or once an ordinary link made way. */
  admit(remote: PeerAddress): boolean {
    return this.host.links.size < this.options.maxDegree || this.makeRoomFor(remote);
  }

  /** The two neighbours of this peer on the ring of all members, sorted by address. */
  private ringNeighbours(members: PeerAddress[]): Set<PeerAddress> {
    const { self } = this.host;
    const ring = [...members, self].sort();
    if (ring.length < 2) return new Set();
    const i = ring.indexOf(self);
    return new Set([ring[(i + 1) % ring.length]!, ring[(i - 1 + ring.length) % ring.length]!]);
  }

  private maintain(): void {
    this.cancelMaintain = null;
    if (!this.running) return;
    const { links } = this.host;
    const now = this.options.clock.nowMs();
    const members = this.host.members();
    const available = (p: PeerAddress) => !links.has(p) && (this.backoff.get(p)?.untilMs ?? 0) <= now;
    for (const p of [...this.ringNeighbours(members), ...this.pinned]) {
      if (!members.includes(p) || !available(p) || !this.admit(p)) continue;
      this.dial(p);
    }
    const candidates = members.filter(available);
    while (links.size < this.options.targetDegree && candidates.length > 0) {
      const [pick] = candidates.splice(Math.floor(this.options.random() * candidates.length), 1);
      this.dial(pick!);
    }
    // A link dropped during this pass (making room) already asked for the next one.
    if (this.cancelMaintain || !this.running) return;
    this.cancelMaintain = this.options.clock.after(this.options.maintainIntervalMs, () => this.maintain());
  }

  private dial(remote: PeerAddress): void {
    this.host.dial(remote, `${this.host.self}/${++this.attemptSeq}`);
  }

  /** At the cap, a ring neighbour or pinned peer still gets in: an ordinary link makes way. */
  private makeRoomFor(remote: PeerAddress): boolean {
    const ring = this.ringNeighbours(this.host.members());
    if (!ring.has(remote) && !this.pinned.has(remote)) return false;
    const ordinary = this.host.links.all().filter((e) => !ring.has(e.remote) && !this.pinned.has(e.remote));
    if (ordinary.length === 0) return false;
    this.host.makeWay(ordinary[Math.floor(this.options.random() * ordinary.length)]!);
    return true;
  }
}
