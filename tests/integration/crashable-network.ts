// An in-memory network on which a peer can crash: from that moment it sends
// nothing, hears nothing and closes nothing, like a browser killed outright (no
// goodbye on any link). The others learn only from its silence.
import { MemoryNetwork } from "../../core/net/memory-transport.ts";
import type { PeerAddress } from "../../core/net/peer-address.ts";
import type { Link, LinkEvents, LinkFactory } from "../../core/net/transport.ts";

export class CrashableNetwork extends MemoryNetwork {
  private readonly crashed = new Set<PeerAddress>();

  /** `peer` is gone from now on, without a word. */
  crash(peer: PeerAddress): void {
    this.crashed.add(peer);
  }

  override factory(self: PeerAddress): LinkFactory {
    const inner = super.factory(self);
    const dead = () => this.crashed.has(self);
    return {
      create: (options) => {
        const e = options.events;
        const events: LinkEvents = {
          signal: (data) => (dead() ? undefined : e.signal(data)),
          open: () => (dead() ? undefined : e.open()),
          message: (data) => (dead() ? undefined : e.message(data)),
          close: (reason) => (dead() ? undefined : e.close(reason)),
        };
        const link = inner.create({ ...options, events });
        const wrapped: Link = {
          remote: link.remote,
          send: (data) => (dead() ? true : link.send(data)),
          bufferedBytes: () => link.bufferedBytes(),
          signal: (data) => (dead() ? undefined : link.signal(data)),
          fingerprints: () => link.fingerprints(),
          close: () => (dead() ? undefined : link.close()),
        };
        return wrapped;
      },
    };
  }
}
