// The consoles of the VMs a host runs: only tabs the owner granted (a signed,
// fresh grant naming this host and that tab) see the output and may type. What
// they type while the VM is still restoring is held, in order, until it runs.
// A granted tab may open a shell channel of its own for the output (shell-channel.ts),
// which its browser reads off the page's main thread; other tabs get it on the mesh.
import { type SignedEntry, verifyEntry } from "../crypto/signed.ts";
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { SideChannel } from "../net/side-channel.ts";
import { ATTACH_KIND, parseAttachGrant } from "../state/vm-records.ts";
import { droppedInputNote, PendingInput } from "../util/pending-input.ts";
import type { VmEngine } from "./engine.ts";
import type { Hosting } from "./hosting.ts";
import { vmIdOfShellChannel } from "./shell-channel.ts";
import { encodeShellOutput, SHELL_HELLO } from "./shell-frames.ts";
import { encodeShell, parseShell, SHELL_PROTOCOL } from "./vm-protocol.ts";

/** How old a grant may be before it no longer opens a console. */
const GRANT_MAX_AGE_MS = 5 * 60_000;

/**
 * A granted tab's shell channel for one VM: output goes on it once it is open
 * and greeted. `end` is set when the VM's engine took it (its own thread sends
 * the output, from where this page left off): the page then sends this tab none.
 */
interface FastOut {
  channel: SideChannel;
  live: boolean;
  end: (() => void) | null;
}

export class HostConsole {
  private readonly shell: PeerChannel;
  private readonly off: (() => void)[];
  /** Typing for a VM that is not running yet; dropped with its hosting. */
  private readonly typedAhead = new WeakMap<Hosting, PendingInput>();
  /** Shell channels by VM and tab (at most one each), for the hosting they were opened to. */
  private readonly fast = new Map<string, { h: Hosting; tabs: Map<PeerAddress, FastOut> }>();
  /** Console bytes each engine has handed on so far: where a shell channel it takes starts. */
  private readonly handedOn = new WeakMap<VmEngine, number>();

  constructor(
    private readonly mesh: MeshPort,
    private readonly hosted: ReadonlyMap<string, Hosting>,
    private readonly now: () => number,
  ) {
    this.shell = mesh.channel(SHELL_PROTOCOL);
    this.off = [
      this.shell.on("message", (remote, payload) => this.onInput(remote, payload)),
      mesh.on("close", (remote) => this.forget(remote)),
      mesh.sideChannels?.onChannel((remote, channel) => this.onSideChannel(remote, channel)) ?? (() => {}),
    ];
  }

  dispose(): void {
    for (const off of this.off.splice(0)) off();
    for (const vmId of [...this.fast.keys()]) this.closeFast(vmId);
  }

  /** The output handler for `h`'s engine: its console bytes go to every granted tab. */
  output(h: Hosting): (bytes: Uint8Array) => void {
    return (bytes) => {
      if (h.engine) this.handedOn.set(h.engine, (this.handedOn.get(h.engine) ?? 0) + bytes.length);
      for (const v of h.viewers) {
        const rest = this.sendFast(h, v, bytes);
        if (rest.length > 0) this.shell.send(v, encodeShell(h.vm.vmId, rest));
      }
    };
  }

  /** Sends `bytes` on `viewer`'s shell channel if it has a live one; what is left to send on the mesh. */
  private sendFast(h: Hosting, viewer: PeerAddress, bytes: Uint8Array): Uint8Array {
    const tabs = this.fast.get(h.vm.vmId);
    const out = tabs?.h === h ? tabs.tabs.get(viewer) : undefined;
    if (!out?.live) return bytes;
    if (out.end) return bytes.subarray(bytes.length); // the engine sends it
    const frames = encodeShellOutput(bytes);
    for (let i = 0; i < frames.length; i++) {
      if (out.channel.send(frames[i]!)) continue;
      // It would not take more: the rest goes on the mesh, and so does all that follows.
      this.dropFast(h.vm.vmId, viewer);
      return bytes.subarray(frames.slice(0, i).reduce((n, f) => n + f.length - 1, 0));
    }
    return bytes.subarray(bytes.length);
  }

  /** A tab opened a shell channel: taken only if the tab is a viewer of that VM here. */
  private onSideChannel(remote: PeerAddress, channel: SideChannel): void {
    const vmId = vmIdOfShellChannel(channel.label);
    const h = vmId === null ? undefined : this.hosted.get(vmId);
    if (!vmId || !h?.viewers.has(remote)) return; // not taken: the mesh closes it
    let entry = this.fast.get(vmId);
    if (entry?.h !== h) {
      this.closeFast(vmId); // opened to a hosting of this VM that has ended
      entry = { h, tabs: new Map() };
      this.fast.set(vmId, entry);
    }
    this.dropFast(vmId, remote);
    const out: FastOut = { channel, live: false, end: null };
    entry.tabs.set(remote, out);
    const forget = () => {
      if (entry.tabs.get(remote) === out) entry.tabs.delete(remote);
    };
    // Where the running engine can take it, the output leaves from the thread that makes it.
    const engine = h.view.state === "running" ? h.engine : null;
    out.end = engine?.shellChannel?.(channel, this.handedOn.get(engine) ?? 0, forget) ?? null;
    if (out.end) {
      out.live = true;
      return;
    }
    const greet = () => {
      if (out.live || entry.tabs.get(remote) !== out) return;
      out.live = channel.send(SHELL_HELLO);
    };
    // Tabs say nothing on it: one that does is not following the protocol.
    channel.on("message", () => channel.close());
    channel.on("close", forget);
    channel.on("open", greet);
    if (channel.isOpen()) greet();
  }

  private dropFast(vmId: string, viewer: PeerAddress): void {
    const tabs = this.fast.get(vmId)?.tabs;
    const out = tabs?.get(viewer);
    tabs?.delete(viewer);
    if (out) endFast(out);
  }

  private closeFast(vmId: string): void {
    for (const out of this.fast.get(vmId)?.tabs.values() ?? []) endFast(out);
    this.fast.delete(vmId);
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
    this.dropFast(vmId, remote);
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
    for (const vmId of [...this.fast.keys()]) this.dropFast(vmId, remote);
  }
}

function endFast(out: FastOut): void {
  if (out.end) out.end();
  else out.channel.close();
}
