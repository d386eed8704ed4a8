// Keeps one yjs document in step across the mesh with y-protocols/sync (presence
// has a channel of its own: state/presence-board.ts). Updates are flooded: whatever a peer learns from one link
// it passes to its other links, so peers that are not directly connected still
// converge. yjs reports an update only when it brought something new, which is
// what stops the flood. Every link also re-offers its state vector now and then
// (anti-entropy), so a message lost on a link cannot leave a peer behind for good.
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import * as syncProtocol from "y-protocols/sync";
import type * as Y from "yjs";
import { CHANNEL_IDS, type MeshPort, type PeerChannel, type Protocol } from "../net/channels.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { Clock } from "../util/clock.ts";

/** y-protocols/sync messages for the shared document. */
export const SYNC_PROTOCOL: Protocol = { name: "yjs-sync", id: CHANNEL_IDS.sync, version: 1 };

export class DocSync {
  private readonly off: (() => void)[] = [];
  private cancelResync: (() => void) | null = null;
  /** The one extra offer made shortly after a link opens, by link. */
  private readonly followUps = new Map<PeerAddress, () => void>();
  private readonly sync: PeerChannel;

  constructor(
    private readonly doc: Y.Doc,
    private readonly mesh: MeshPort,
    private readonly clock: Clock,
    private readonly resyncIntervalMs = 10_000,
  ) {
    this.sync = mesh.channel(SYNC_PROTOCOL);
  }

  start(): void {
    const onUpdate = (update: Uint8Array, origin: unknown) => {
      const encoder = encoding.createEncoder();
      syncProtocol.writeUpdate(encoder, update);
      this.sync.broadcast(encoding.toUint8Array(encoder), origin as PeerAddress | undefined);
    };
    this.doc.on("update", onUpdate);
    this.off.push(() => this.doc.off("update", onUpdate));

    this.off.push(
      this.mesh.on("open", (remote) => {
        this.offerState(remote);
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
      this.sync.on("message", (remote, payload) => this.receiveSync(remote, payload)),
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
    this.sync.send(remote, encoding.toUint8Array(encoder));
  }

  stop(): void {
    this.cancelResync?.();
    this.cancelResync = null;
    for (const cancel of this.followUps.values()) cancel();
    this.followUps.clear();
    for (const off of this.off.splice(0)) off();
  }

  private receiveSync(remote: PeerAddress, payload: Uint8Array): void {
    try {
      const decoder = decoding.createDecoder(payload);
      const reply = encoding.createEncoder();
      syncProtocol.readSyncMessage(decoder, reply, this.doc, remote);
      if (encoding.length(reply) > 0) this.sync.send(remote, encoding.toUint8Array(reply));
    } catch {
      // Malformed input from a peer costs only itself.
    }
  }
}
