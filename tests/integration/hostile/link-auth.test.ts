// Attack 5: posing as anyone on a link. Signaling relays the set-up data of
// every link and the design does not trust it, so (a) a relay can splice itself
// in between two peers, pairing Alice with Mallory and Mallory with Bob and
// passing the bytes along, and (b) a peer can answer under another's address.
// On the in-memory network with real keys: a link counts as open only once the
// other end proved, over this very link, that it holds the key of its address.
import { afterEach, describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../../core/crypto/identity.ts";
import { encodeFrame, type Protocol } from "../../../core/net/channels.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../../core/net/memory-transport.ts";
import { Mesh } from "../../../core/net/mesh.ts";
import { type PeerAddress, peerAddress } from "../../../core/net/peer-address.ts";
import type { SignalingLike } from "../../../core/net/signaling-types.ts";
import type { Link } from "../../../core/net/transport.ts";
import { ManualClock } from "../../../core/util/clock.ts";
import { flushAsync } from "../../helpers/eventually.ts";

/** A channel the tests listen on, to see whose frames reach a peer's consumers. */
const PROBE: Protocol = { name: "probe", id: 200, version: 1 };
const text = (s: string) => new TextEncoder().encode(s);

const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

interface Peer {
  identity: Identity;
  address: PeerAddress;
  mesh: Mesh;
  /** Probe payloads this peer's consumers got, as `<from> <text>`. */
  heard: string[];
  /** Every remote its mesh reported open. */
  opened: PeerAddress[];
}

function startMesh(
  clock: ManualClock,
  signaling: SignalingLike & { start(): void; stop(): void },
  network: MemoryNetwork,
  identity: Identity,
  options: { connectTimeoutMs?: number } = {},
): Peer {
  const mesh = new Mesh(signaling, network.factory(signaling.self), {
    clock,
    identity,
    targetDegree: 4,
    maxDegree: 8,
    maintainIntervalMs: 200,
    ...options,
  });
  const peer: Peer = { identity, address: signaling.self, mesh, heard: [], opened: [] };
  mesh.channel(PROBE).on("message", (from, payload) => {
    peer.heard.push(`${from} ${new TextDecoder().decode(payload)}`);
  });
  mesh.on("open", (remote) => {
    peer.opened.push(remote);
    mesh.channel(PROBE).send(remote, text(`hello from ${signaling.self}`));
  });
  mesh.start();
  signaling.start();
  stops.push(
    () => mesh.stop(),
    () => signaling.stop(),
  );
  return peer;
}

async function join(
  clock: ManualClock,
  hub: MemorySignalingHub,
  network: MemoryNetwork,
  identity?: Identity,
): Promise<Peer> {
  const id = identity ?? (await createIdentity());
  const signaling = hub.connect({ peer: peerAddress(id.peerId, "s1"), publicKey: id.publicKey });
  return startMesh(clock, signaling, network, id);
}

type Envelope = { mesh: 1; kind: string; attempt: string; data: object };

/**
 * A signaling relay that splices Mallory into every attempt between two peers:
 * the initiator's set-up data goes to a link Mallory answers, and Mallory dials
 * the other peer herself under the initiator's address, with the same attempt.
 * Bytes go through her both ways; once each side's first frame has passed, she
 * adds frames of her own.
 */
class SplicingHub extends MemorySignalingHub {
  intercept = true;
  /** Attempts spliced, by attempt id. */
  readonly spliced = new Map<string, { face: Link; back: Link; initiator: PeerAddress }>();
  private readonly between = new Set<PeerAddress>();

  constructor(
    private readonly network: MemoryNetwork,
    options: { clock?: ManualClock } = {},
  ) {
    super(options);
  }

  target(a: PeerAddress, b: PeerAddress): void {
    this.between.add(a);
    this.between.add(b);
  }

  override relay(from: string, to: string, data: object): boolean {
    const e = data as Envelope;
    if (!this.intercept || !this.between.has(from) || !this.between.has(to) || e.kind !== "rtc")
      return super.relay(from, to, data);
    const copy = JSON.parse(JSON.stringify(e.data)) as object;
    const session = this.spliced.get(e.attempt);
    if (!session) {
      this.splice(from, to, e.attempt).face.signal(copy);
    } else if (from === session.initiator) {
      session.face.signal(copy);
    } else {
      session.back.signal(copy);
    }
    return true;
  }

  private splice(initiator: PeerAddress, responder: PeerAddress, attempt: string) {
    const envelope = (data: object) => ({ mesh: 1, kind: "rtc", attempt, data });
    const forwarded = { toInitiator: 0, toResponder: 0 };
    // Mallory's end facing the initiator poses as the responder, and the other way round.
    const face: Link = this.network.factory(responder).create({
      remote: initiator,
      initiator: false,
      iceServers: [],
      events: {
        signal: (d) => super.relay(responder, initiator, envelope(d)),
        open: () => {},
        message: (d) => {
          back.send(d);
          if (++forwarded.toResponder === 1) back.send(encodeFrame(PROBE, text("mallory to the responder")));
        },
        close: () => back.close(),
      },
    });
    const back: Link = this.network.factory(initiator).create({
      remote: responder,
      initiator: true,
      iceServers: [],
      events: {
        signal: (d) => super.relay(initiator, responder, envelope(d)),
        open: () => {},
        message: (d) => {
          face.send(d);
          if (++forwarded.toInitiator === 1) face.send(encodeFrame(PROBE, text("mallory to the initiator")));
        },
        close: () => face.close(),
      },
    });
    const session = { face, back, initiator };
    this.spliced.set(attempt, session);
    return session;
  }
}

const run = (clock: ManualClock, what: string, condition: () => boolean, maxMs = 30_000) =>
  clock.runUntil(condition, { stepMs: 20, maxMs, flush: flushAsync, what });

describe("hostile: posing as someone else on a link", () => {
  it("a relay that splices itself between Alice and Bob never gets a link either counts as open", async () => {
    const clock = new ManualClock();
    const network = new MemoryNetwork();
    const hub = new SplicingHub(network);
    const [ia, ib] = [await createIdentity(), await createIdentity()];
    hub.target(peerAddress(ia.peerId, "s1"), peerAddress(ib.peerId, "s1"));
    const alice = await join(clock, hub, network, ia);
    const bob = await join(clock, hub, network, ib);
    let seenOpen = false;
    const openNow = () =>
      alice.mesh.openLinks().includes(bob.address) || bob.mesh.openLinks().includes(alice.address);
    await run(clock, "three spliced attempts (or an open link)", () => {
      seenOpen ||= openNow();
      return seenOpen || alice.opened.length + bob.opened.length > 0 || hub.spliced.size >= 3;
    });
    expect(alice.opened).toEqual([]);
    expect(bob.opened).toEqual([]);
    expect(seenOpen).toBe(false);
    // Nothing Mallory sent (or passed on) reached a consumer as if from the other peer.
    expect(alice.heard).toEqual([]);
    expect(bob.heard).toEqual([]);

    // Once the relay stops meddling, the two link as usual.
    hub.intercept = false;
    await run(
      clock,
      "alice and bob linked",
      () => alice.mesh.isOpen(bob.address) && bob.mesh.isOpen(alice.address),
    );
    await run(clock, "each heard the other", () => alice.heard.length > 0 && bob.heard.length > 0);
    expect(alice.heard).toEqual([`${bob.address} hello from ${bob.address}`]);
    expect(bob.heard).toEqual([`${alice.address} hello from ${alice.address}`]);
  });

  it("honest peers link through an honest relay, and hear each other", async () => {
    const clock = new ManualClock();
    const network = new MemoryNetwork();
    const hub = new MemorySignalingHub();
    const alice = await join(clock, hub, network);
    const bob = await join(clock, hub, network);
    await run(
      clock,
      "alice and bob linked",
      () => alice.mesh.isOpen(bob.address) && bob.mesh.isOpen(alice.address),
    );
    await run(clock, "each heard the other", () => alice.heard.length > 0 && bob.heard.length > 0);
    expect(alice.opened).toEqual([bob.address]);
    expect(alice.mesh.openLinks()).toEqual([bob.address]);
    expect(alice.heard).toEqual([`${bob.address} hello from ${bob.address}`]);
    expect(network.openLinks).toBe(1);
  });

  const impostors: [string, (mallory: Identity, bob: Identity) => Identity][] = [
    ["with her own key", (mallory) => mallory],
    [
      "with Bob's public key but her own private key",
      (mallory, bob) => ({ ...mallory, peerId: bob.peerId, publicKey: bob.publicKey }),
    ],
  ];

  it.each(impostors)("a peer answering under Bob's address %s never gets an open link", async (_, as) => {
    const clock = new ManualClock();
    const network = new MemoryNetwork();
    const hub = new MemorySignalingHub();
    const [ia, ib, im] = [await createIdentity(), await createIdentity(), await createIdentity()];
    const bobAddress = peerAddress(ib.peerId, "s1");
    const alice = await join(clock, hub, network, ia);
    // The hub takes Mallory's word for her address (the real server's checks are not trusted).
    const signaling = hub.connect({ peer: bobAddress, publicKey: ib.publicKey });
    const mallory = startMesh(clock, signaling, network, as(im, ib));
    let attempts = 0;
    hub.relay = ((relay) => (from: string, to: string, data: object) => {
      if (from === alice.address && (data as Envelope).kind === "rtc") attempts++;
      return relay(from, to, data);
    })(hub.relay.bind(hub));
    let seenOpen = false;
    await run(clock, "alice tried three times (or opened)", () => {
      seenOpen ||= alice.mesh.openLinks().includes(bobAddress);
      return seenOpen || alice.opened.length > 0 || attempts >= 3;
    });
    expect(alice.opened).toEqual([]);
    expect(seenOpen).toBe(false);
    expect(alice.heard).toEqual([]);
    expect(mallory.address).toBe(bobAddress);
  });

  it("a peer under Bob's address that links but proves nothing is dropped at the connect timeout, and backed off", async () => {
    const clock = new ManualClock();
    const network = new MemoryNetwork();
    const hub = new MemorySignalingHub();
    const ia = await createIdentity();
    const ib = await createIdentity();
    const bobAddress = peerAddress(ib.peerId, "s1");
    const signaling = hub.connect({ peer: bobAddress, publicKey: ib.publicKey });
    const factory = network.factory(bobAddress);
    const attempts = new Map<string, { at: number; link: Link; closedAt: number | null }>();
    signaling.on("signal", (from, raw) => {
      const e = raw as Envelope;
      if (e.kind !== "rtc") return;
      let a = attempts.get(e.attempt);
      if (!a) {
        const entry: { at: number; link: Link; closedAt: number | null } = {
          at: clock.nowMs(),
          closedAt: null,
          link: factory.create({
            remote: from,
            initiator: false,
            iceServers: [],
            events: {
              signal: (d) =>
                signaling.sendSignal(from, { mesh: 1, kind: "rtc", attempt: e.attempt, data: d }),
              open: () => {},
              message: () => {},
              close: () => {
                entry.closedAt = clock.nowMs();
              },
            },
          }),
        };
        a = entry;
        attempts.set(e.attempt, a);
      }
      a.link.signal(e.data);
    });
    signaling.start();
    stops.push(() => signaling.stop());
    const alice = startMesh(
      clock,
      hub.connect({ peer: peerAddress(ia.peerId, "s1"), publicKey: ia.publicKey }),
      network,
      ia,
      {
        connectTimeoutMs: 3000,
      },
    );
    let seenOpen = false;
    await run(clock, "alice dialed twice (or opened)", () => {
      seenOpen ||= alice.mesh.openLinks().includes(bobAddress);
      return seenOpen || alice.opened.length > 0 || attempts.size >= 2;
    });
    expect(alice.opened).toEqual([]);
    expect(seenOpen).toBe(false);
    const [first, second] = [...attempts.values()];
    // The first link came up (as a link) and was closed at the timeout; the next came after a backoff.
    expect(first!.closedAt).not.toBeNull();
    expect(first!.closedAt! - first!.at).toBeGreaterThanOrEqual(3000);
    expect(second!.at - first!.closedAt!).toBeGreaterThanOrEqual(750);
  });
});
