// The consoles of the VMs a host runs: only tabs the owner granted (a signed,
// fresh grant naming this host and that tab) see the output and may type. What
// they type while the VM is still restoring is held, in order, until it runs.
import { type SignedEntry, verifyEntry } from "../crypto/signed.ts";
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import { ATTACH_KIND, parseAttachGrant } from "../state/vm-records.ts";
import { droppedInputNote, PendingInput } from "../util/pending-input.ts";
import type { Hosting } from "./hosting.ts";
import { encodeShell, parseShell, SHELL_PROTOCOL } from "./vm-protocol.ts";

/** How old a grant may be before it no longer opens a console. */
const GRANT_MAX_AGE_MS = 5 * 60_000;

export class HostConsole {
  private readonly shell: PeerChannel;
  private readonly off: (() => void)[];
  /** Typing for a VM that is not running yet; dropped with its hosting. */
  private readonly typedAhead = new WeakMap<Hosting, PendingInput>();

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

  /** `h` runs now: what its tabs typed while it restored reaches it, in order. */
  running(h: Hosting): void {
    const typed = this.typedAhead.get(h)?.take();
    this.typedAhead.delete(h);
    if (typed && h.engine && h.view.state === "running") h.engine.input(typed);
  }

  private onInput(remote: PeerAddress, payload: Uint8Array): void {
    const shell = parseShell(payload);
    const h = shell && this.hosted.get(shell.vmId);
    // Only tabs the owner granted the console may type into it.
    if (!shell || !h?.viewers.has(remote)) return;
    if (h.engine && h.view.state === "running") h.engine.input(shell.bytes);
    else if (h.view.state === "restoring") this.holdInput(h, remote, shell.bytes);
  }

  private holdInput(h: Hosting, remote: PeerAddress, bytes: Uint8Array): void {
    const held = this.typedAhead.get(h) ?? new PendingInput();
    this.typedAhead.set(h, held);
    const first = held.dropped === 0;
    if (held.push(bytes) || !first) return;
    const note = `\r\n[${droppedInputNote(bytes.length, "the VM was restoring")}]\r\n`;
    this.shell.send(remote, encodeShell(h.vm.vmId, new TextEncoder().encode(note)));
  }

  private forget(remote: PeerAddress): void {
    for (const h of this.hosted.values()) h.viewers.delete(remote);
  }
}
