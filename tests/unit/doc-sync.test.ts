import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { ChannelRouter, type MeshPort, type PeerChannel, type Protocol } from "../../core/net/channels.ts";
import { DocSync } from "../../core/state/doc-sync.ts";
import { ManualClock } from "../../core/util/clock.ts";
import { Emitter } from "../../core/util/emitter.ts";

const flush = () => new Promise<void>((r) => setImmediate(r));

/** Two ends of one link that can lose messages. */
class LossyMesh implements MeshPort {
  readonly events = new Emitter<{ open: (remote: string) => void; close: (remote: string) => void }>();
  other!: LossyMesh;
  dropNext = 0;
  private readonly router = new ChannelRouter(
    (remote, frame) => this.sendFrame(remote, frame),
    (frame, except) => (except === this.other.self ? 0 : Number(this.sendFrame(this.other.self, frame))),
  );
  constructor(readonly self: string) {}
  channel(protocol: Protocol): PeerChannel {
    return this.router.channel(protocol);
  }
  on(event: "open" | "close", handler: (remote: string) => void): () => void {
    return this.events.on(event, handler);
  }
  private sendFrame(_remote: string, frame: Uint8Array): boolean {
    if (this.dropNext > 0) {
      this.dropNext--;
      return true; // the link said yes, and the bytes never arrived
    }
    const to = this.other;
    queueMicrotask(() => to.router.deliver(this.self, frame.slice()));
    return true;
  }
  openLinks(): string[] {
    return [this.other.self];
  }
  isOpen(remote: string): boolean {
    return remote === this.other.self;
  }
  bufferedBytes(): number {
    return 0;
  }
  rttMs(): number | null {
    return null;
  }
  pin(): void {}
  unpin(): void {}
}

function peer(name: string, clock: ManualClock, before: (doc: Y.Doc) => void = () => {}) {
  const doc = new Y.Doc();
  before(doc); // what the peer already had when it came online
  const mesh = new LossyMesh(name);
  const sync = new DocSync(doc, mesh, clock, 10_000);
  sync.start();
  return { doc, mesh, sync };
}

describe("DocSync", () => {
  it("catches up after the first messages on a link were lost", async () => {
    const clock = new ManualClock();
    const a = peer("a", clock);
    const b = peer("b", clock, (doc) => doc.getArray("log").push(["written before the link"]));
    a.mesh.other = b.mesh;
    b.mesh.other = a.mesh;
    // The link opens, and a's greeting (its state vector, which b answers with what a lacks) is lost.
    a.mesh.dropNext = 2;
    a.mesh.events.emit("open", "b");
    b.mesh.events.emit("open", "a");
    await clock.advance(10, flush);
    expect(a.doc.getArray("log").length).toBe(0);
    await clock.advance(1000, flush);
    expect(a.doc.getArray("log").toArray()).toEqual(["written before the link"]);
    for (const p of [a, b]) p.sync.stop();
    expect(clock.pending).toBe(0);
  });

  it("re-offers its state on every link now and then (anti-entropy)", async () => {
    const clock = new ManualClock();
    const a = peer("a", clock);
    const b = peer("b", clock);
    a.mesh.other = b.mesh;
    b.mesh.other = a.mesh;
    a.mesh.events.emit("open", "b");
    b.mesh.events.emit("open", "a");
    await clock.advance(2000, flush);
    // An update lost in flight...
    a.mesh.dropNext = 1;
    a.doc.getMap("m").set("k", "v");
    await clock.advance(10, flush);
    expect(b.doc.getMap("m").get("k")).toBeUndefined();
    // ...arrives with the next periodic exchange.
    await clock.advance(10_000, flush);
    expect(b.doc.getMap("m").get("k")).toBe("v");
    for (const p of [a, b]) p.sync.stop();
  });
});
