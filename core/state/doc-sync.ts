// Keeps one yjs document and its awareness (presence) in step across the mesh
// with y-protocols. Updates are flooded: whatever a peer learns from one link
// it passes to its other links, so peers that are not directly connected still
// converge. yjs reports an update only when it brought something new, which is
// what stops the flood. Every link also re-offers its state vector now and then
// (anti-entropy), so a message lost on a link cannot leave a peer behind for good.
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import * as awarenessProtocol from "y-protocols/awareness";
import * as syncProtocol from "y-protocols/sync";
import type * as Y from "yjs";
import type { PeerAddress } from "../net/peer-address.ts";
import { Channel, frame } from "../net/wire.ts";
import type { Clock } from "../util/clock.ts";

/** What DocSync needs from the mesh. */
export interface MeshLike {
  on(event: "open" | "close", handler: (remote: PeerAddress) => void): () => void;
  on(event: "message", handler: (remote: PeerAddress, data: Uint8Array) => void): () => void;
  send(remote: PeerAddress, data: Uint8Array): boolean;
  broadcast(data: Uint8Array, except?: PeerAddress): number;
  openLinks(): PeerAddress[];
}

export interface DocSyncStats {
  received: number;
  rejected: number;
}

export class DocSync {
  private readonly off: (() => void)[] = [];
  private cancelResync: (() => void) | null = null;
  /** The one extra offer made shortly after a link opens, by link. */
  private readonly followUps = new Map<PeerAddress, () => void>();
  readonly stats: DocSyncStats = { received: 0, rejected: 0 };

  constructor(
    private readonly doc: Y.Doc,
    private readonly awareness: awarenessProtocol.Awareness,
    private readonly mesh: MeshLike,
    private readonly clock: Clock,
    private readonly resyncIntervalMs = 10_000,
  ) {}

  start(): void {
    const onUpdate = (update: Uint8Array, origin: unknown) => {
      const encoder = encoding.createEncoder();
      syncProtocol.writeUpdate(encoder, update);
      this.mesh.broadcast(
        frame(Channel.Sync, encoding.toUint8Array(encoder)),
        origin as PeerAddress | undefined,
      );
    };
    this.doc.on("update", onUpdate);
    this.off.push(() => this.doc.off("update", onUpdate));

    const onAwareness = (
      changes: { added: number[]; updated: number[]; removed: number[] },
      origin: unknown,
    ) => {
      const clients = [...changes.added, ...changes.updated, ...changes.removed];
      const update = awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients);
      this.mesh.broadcast(frame(Channel.Awareness, update), origin as PeerAddress | undefined);
    };
    this.awareness.on("update", onAwareness);
    this.off.push(() => this.awareness.off("update", onAwareness));

    this.off.push(
      this.mesh.on("open", (remote) => {
        this.greet(remote);
        // Once more shortly after: the very first messages on a fresh link are the likeliest to be lost.
        this.followUps.get(remote)?.();
        this.followUps.set(
          remote,
          this.clock.after(1000, () => {
            this.followUps.delete(remote);
            this.offerState(remote);
          }),
        );
      }),
      this.mesh.on("close", (remote) => {
        this.followUps.get(remote)?.();
        this.followUps.delete(remote);
      }),
      this.mesh.on("message", (remote, data) => this.receive(remote, data)),
    );
    this.scheduleResync();
  }

  private scheduleResync(): void {
    this.cancelResync = this.clock.after(this.resyncIntervalMs, () => {
      for (const remote of this.mesh.openLinks()) this.offerState(remote);
      this.scheduleResync();
    });
  }

  /** Sends our state vector; the remote answers with whatever we miss (nothing, if in step). */
  private offerState(remote: PeerAddress): void {
    const encoder = encoding.createEncoder();
    syncProtocol.writeSyncStep1(encoder, this.doc);
    this.mesh.send(remote, frame(Channel.Sync, encoding.toUint8Array(encoder)));
  }

  /** Leaves: tells the others this peer's presence is gone, then stops listening. */
  stop(): void {
    awarenessProtocol.removeAwarenessStates(this.awareness, [this.doc.clientID], "local");
    this.cancelResync?.();
    this.cancelResync = null;
    for (const cancel of this.followUps.values()) cancel();
    this.followUps.clear();
    for (const off of this.off.splice(0)) off();
  }

  /** A new link: offer our state vector, and tell it everyone's presence we know. */
  private greet(remote: PeerAddress): void {
    this.offerState(remote);
    const clients = [...this.awareness.getStates().keys()];
    if (clients.length > 0) {
      const update = awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients);
      this.mesh.send(remote, frame(Channel.Awareness, update));
    }
  }

  private receive(remote: PeerAddress, data: Uint8Array): void {
    if (data[0] !== Channel.Sync && data[0] !== Channel.Awareness) return;
    this.stats.received++;
    try {
      if (data[0] === Channel.Sync) {
        const decoder = decoding.createDecoder(data.subarray(1));
        const reply = encoding.createEncoder();
        syncProtocol.readSyncMessage(decoder, reply, this.doc, remote);
        if (encoding.length(reply) > 0)
          this.mesh.send(remote, frame(Channel.Sync, encoding.toUint8Array(reply)));
      } else {
        awarenessProtocol.applyAwarenessUpdate(this.awareness, data.subarray(1), remote);
      }
    } catch {
      // Malformed input from a peer: ignored, and counted.
      this.stats.rejected++;
    }
  }
}
