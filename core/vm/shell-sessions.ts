// The owner's consoles: each tab attaches a shell to a VM on whichever host runs
// it now, with a grant the owner signs for that host and that tab, and follows
// the VM when it moves. Console bytes travel on the shell channel. What a tab
// types while no host has confirmed it (the VM starts, moves, or the link is
// re-made) is held in order and sent once one does. Once a host confirms a tab,
// the tab may open a shell channel of its own to it for the output
// (shell-channel.ts), which its browser reads off the page's main thread.
import type { Identity } from "../crypto/identity.ts";
import { signEntry } from "../crypto/signed.ts";
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import { whenOpen } from "../net/link-wait.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { SideChannel } from "../net/side-channel.ts";
import { ATTACH_KIND } from "../state/vm-records.ts";
import type { Clock } from "../util/clock.ts";
import { droppedInputNote, PendingInput } from "../util/pending-input.ts";
import type { OwnedState, OwnerViews } from "./owner-views.ts";
import { shellChannelLabel } from "./shell-channel.ts";
import { encodeShell, parseShell, SHELL_PROTOCOL, type VmMessage } from "./vm-protocol.ts";

export interface ShellHandlers {
  output(bytes: Uint8Array): void;
  /** What the console showed before this tab attached (sent on every (re)attach). */
  transcript(text: string): void;
  status(state: OwnedState, host: PeerAddress | null, detail: string): void;
  /** Something the user should know about their typing (some of it was dropped). */
  notice?(text: string): void;
  /**
   * A new shell channel to the confirmed host, not open yet: take it (at once,
   * in this call) and return what ends it, or return null to keep the output on
   * the mesh. Whatever arrives on it belongs to this console.
   */
  fastChannel?(channel: SideChannel): (() => void) | null;
}

export interface ShellSession {
  input(bytes: Uint8Array): void;
  rttMs(): number | null;
  host(): PeerAddress | null;
  detach(): void;
}

export interface ShellSessionsOptions {
  identity: Identity;
  mesh: MeshPort;
  clock: Clock;
  now: () => number;
  views: OwnerViews;
  /** The host that runs the VM now, by its current lease. */
  target: (vmId: string) => Promise<PeerAddress | null>;
  sendVm: (remote: PeerAddress, message: VmMessage) => boolean;
  linkTimeoutMs?: number;
}

/** How often a tab asks again while a host has not confirmed it. */
const RETRY_MS = 1000;

export class ShellSessions {
  private readonly sessions = new Set<Session>();
  private readonly shell: PeerChannel;
  private readonly off: (() => void)[];

  constructor(readonly o: ShellSessionsOptions) {
    this.shell = o.mesh.channel(SHELL_PROTOCOL);
    this.off = [
      this.shell.on("message", (remote, payload) => {
        const shell = parseShell(payload);
        if (!shell) return;
        for (const s of this.sessions)
          if (s.vmId === shell.vmId && s.currentHost === remote) s.handlers.output(shell.bytes);
      }),
      o.views.on("update", (v) => {
        for (const s of this.sessions) {
          if (s.vmId !== v.vmId) continue;
          s.handlers.status(v.state, v.host, v.detail);
          s.deliver();
        }
      }),
      o.views.on("change", () => {
        for (const s of this.sessions) void s.check();
      }),
      // A host forgets the tabs it loses a link to: ask it again once the link is back.
      o.mesh.on("close", (remote) => {
        for (const s of this.sessions) s.linkLost(remote);
      }),
    ];
  }

  dispose(): void {
    for (const off of this.off.splice(0)) off();
    for (const s of [...this.sessions]) s.close();
  }

  /** Attaches a console to the VM on whichever host runs it, and follows it when it moves. */
  attach(vmId: string, handlers: ShellHandlers): ShellSession {
    const session = new Session(this, vmId, handlers, () => this.sessions.delete(session));
    this.sessions.add(session);
    void session.check();
    return session;
  }

  /** The host confirmed a tab: only its first answer replaces what the terminal shows. */
  attached(remote: PeerAddress, vmId: string, transcript: string): void {
    for (const s of this.sessions) {
      if (s.vmId !== vmId || !s.confirmed(remote)) continue;
      s.handlers.transcript(transcript);
      s.openFast(remote);
      s.deliver();
    }
  }

  /** Signs a grant for this tab to use the VM's console on `host`, and sends it. */
  async grant(vmId: string, host: PeerAddress): Promise<void> {
    const { identity, mesh } = this.o;
    const grant = await signEntry(identity, ATTACH_KIND, { vmId, host, viewer: mesh.self, at: this.o.now() });
    this.o.sendVm(host, { t: "attach", grant });
  }

  /** Links to `host` (waiting briefly) and grants this tab its console. */
  async grantLinked(vmId: string, host: PeerAddress): Promise<void> {
    this.o.mesh.pin(host);
    await whenOpen(this.o.mesh, host, this.o.clock, this.o.linkTimeoutMs ?? 10_000);
    await this.grant(vmId, host);
  }

  /** False when the link to `host` would not take it. */
  input(host: PeerAddress, vmId: string, bytes: Uint8Array): boolean {
    return this.shell.send(host, encodeShell(vmId, bytes));
  }
}

/**
 * One tab's console on one VM. It asks the host for the console until the host
 * confirms (a host that is still restoring ignores it), and again whenever the
 * VM moves to another host.
 */
class Session implements ShellSession {
  currentHost: PeerAddress | null = null;
  /** The host that confirmed this tab as a viewer. */
  private attachedTo: PeerAddress | null = null;
  private cancelRetry: (() => void) | null = null;
  /** Ends the shell channel to the confirmed host, if there is one. */
  private endFast: (() => void) | null = null;
  private closed = false;
  private asking = false;
  /** Typing while no host has confirmed this tab. */
  private readonly typedAhead = new PendingInput();

  constructor(
    private readonly owner: ShellSessions,
    readonly vmId: string,
    readonly handlers: ShellHandlers,
    private readonly onClose: () => void,
  ) {}

  /** The host said yes; true the first time (later answers repeat it). */
  confirmed(host: PeerAddress): boolean {
    if (host !== this.currentHost || this.attachedTo === host) return false;
    this.attachedTo = host;
    return true;
  }

  /** A shell channel of its own to `host`, if the mesh and the terminal can use one. */
  openFast(host: PeerAddress): void {
    this.closeFast();
    const take = this.handlers.fastChannel;
    const channel = take && this.owner.o.mesh.sideChannels?.open(host, shellChannelLabel(this.vmId));
    if (!channel) return;
    this.endFast = take(channel);
    if (!this.endFast) channel.close();
  }

  private closeFast(): void {
    this.endFast?.();
    this.endFast = null;
  }

  async check(): Promise<void> {
    if (this.closed || this.asking) return;
    const target = await this.owner.o.target(this.vmId);
    if (target !== this.currentHost) {
      this.currentHost = target;
      this.attachedTo = null;
      this.closeFast();
    }
    if (!target || this.attachedTo === target) return;
    this.asking = true;
    try {
      await this.owner.grantLinked(this.vmId, target);
    } finally {
      this.asking = false;
    }
    this.cancelRetry?.();
    this.cancelRetry = this.owner.o.clock.after(RETRY_MS, () => {
      this.cancelRetry = null;
      void this.check();
    });
  }

  host(): PeerAddress | null {
    return this.currentHost;
  }

  /** Typing goes through the queue, so nothing overtakes what is still held. */
  input(bytes: Uint8Array): void {
    const first = this.typedAhead.dropped === 0;
    if (!this.typedAhead.push(bytes) && first)
      this.handlers.notice?.(droppedInputNote(bytes.length, "the VM was out of reach"));
    this.deliver();
  }

  /** Sends what is held, if a host has confirmed this tab (else it waits for one). */
  deliver(): void {
    const host = this.currentHost;
    if (!host || this.attachedTo !== host) return;
    // A lease for another host is signed (the VM moves): hold it for the new host.
    const view = this.owner.o.views.get(this.vmId);
    if (view?.host && view.host !== host) return;
    const typed = this.typedAhead.take();
    if (typed && !this.owner.input(host, this.vmId, typed)) this.typedAhead.push(typed);
  }

  /** The link to `remote` closed: if it is this tab's host, it must confirm the tab again. */
  linkLost(remote: PeerAddress): void {
    if (remote !== this.currentHost) return;
    this.attachedTo = null;
    this.closeFast();
    void this.check();
  }

  rttMs(): number | null {
    return this.currentHost ? this.owner.o.mesh.rttMs(this.currentHost) : null;
  }

  detach(): void {
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelRetry?.();
    this.closeFast();
    if (this.currentHost) this.owner.o.sendVm(this.currentHost, { t: "detach", vmId: this.vmId });
    this.onClose();
  }
}
