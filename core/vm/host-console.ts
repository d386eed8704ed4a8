// The consoles of the VMs a host runs: only tabs the owner granted (a signed,
// fresh grant naming this host and that tab) see the output and may type.
import { type SignedEntry, verifyEntry } from "../crypto/signed.ts";
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import { ATTACH_KIND, parseAttachGrant } from "../state/vm-records.ts";
import type { Hosting } from "./hosting.ts";
import { encodeShell, parseShell, SHELL_PROTOCOL } from "./vm-protocol.ts";

/** How old a grant may be before it no longer opens a console. */
const GRANT_MAX_AGE_MS = 5 * 60_000;

export class HostConsole {
  private readonly shell: PeerChannel;
  private readonly off: (() => void)[];

  constructor(
    private readonly mesh: MeshPort,
    private readonly hosted: ReadonlyMap<string, Hosting>,
    private readonly now: () => number,
  ) {
    this.shell = mesh.channel(SHELL_PROTOCOL);
    this.off = [
      this.shell.on("message", (remote, payload) => this.onInput(remote, payload)),
      mesh.on("close", (remote) => this.forget(remote)),
    ];
  }

  dispose(): void {
    for (const off of this.off.splice(0)) off();
  }

  /** The output handler for `h`'s engine: its console bytes go to every granted tab. */
  output(h: Hosting): (bytes: Uint8Array) => void {
    return (bytes) => {
      const frame = encodeShell(h.vm.vmId, bytes);
      for (const v of h.viewers) this.shell.send(v, frame);
    };
  }

  /** Checks a grant from `remote`; the hosting it opens, or null. */
  async grant(remote: PeerAddress, grant: SignedEntry<unknown>): Promise<Hosting | null> {
    const checked = await verifyEntry(grant, ATTACH_KIND, parseAttachGrant);
    if (!checked) return null;
    const g = checked.payload;
    const h = this.hosted.get(g.vmId);
    if (!h || checked.signer !== h.vm.owner || g.host !== this.mesh.self || g.viewer !== remote) return null;
    if (Math.abs(this.now() - g.at) > GRANT_MAX_AGE_MS) return null; // stale grant
    h.viewers.add(remote);
    return h;
  }

  detach(remote: PeerAddress, vmId: string): void {
    this.hosted.get(vmId)?.viewers.delete(remote);
  }

  private onInput(remote: PeerAddress, payload: Uint8Array): void {
    const shell = parseShell(payload);
    const h = shell && this.hosted.get(shell.vmId);
    // Only tabs the owner granted the console may type into it.
    if (h?.engine && h.viewers.has(remote) && h.view.state === "running") h.engine.input(shell!.bytes);
  }

  private forget(remote: PeerAddress): void {
    for (const h of this.hosted.values()) h.viewers.delete(remote);
  }
}
