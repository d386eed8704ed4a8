// The remote shell's output, the fast way where the browser allows it: each
// shell channel (core/vm/shell-channel.ts) goes to a worker the moment it is
// made, and the worker puts the host's output in shared memory. After a
// keystroke the page runs no task until it has drawn a frame (Chromium's
// DeferRendererTasksAfterInput), so output that came on the page's own
// thread was painted a frame late; read from shared memory in that frame's
// animation callback, the echo is painted in it. Where the channel cannot move
// (no cross-origin isolation, or a browser that cannot transfer one), the output
// stays on the mesh.
import type { SideChannel } from "../core/net/side-channel.ts";
import { canShareMemory, EarlyOutput } from "../core/util/output-ring.ts";
import type { OwnerRuntime } from "../core/vm/owner-runtime.ts";
import type { ShellHandlers, ShellSession } from "../core/vm/shell-sessions.ts";
import type { ShellChannelEvent, ShellChannelRequest } from "../worker/api.ts";
import shellChannelWorkerUrl from "../worker/shell-channel.worker.ts?worker&url";
import { Lifetime } from "./lifetime.ts";
import type { Shell } from "./terminal.ts";

/** How many frames after a keystroke the shell looks for its echo in shared memory. */
const ECHO_FRAMES = 3;
/**
 * A remote echo is in shared memory about 4–8 ms after the key (measured on a
 * loaded 2-core machine): the first frame after a keystroke waits for it until
 * this long after the key, if it is not back yet...
 */
const ECHO_DUE_MS = 10;
/** ...though never more than this long in one frame. */
const ECHO_WAIT_MAX_MS = 8;

interface Fast {
  id: number;
  output: EarlyOutput;
  /** The host said its output comes this way now. */
  greeted: boolean;
  write: (bytes: Uint8Array) => void;
}

export class RemoteShellOutput {
  private worker: Worker | null = null;
  private nextId = 1;
  private fast: Fast | null = null;
  private readonly lifetime = new Lifetime();

  constructor(
    private readonly shell: Shell,
    private readonly terminal: HTMLElement,
  ) {
    // Before the terminal sees the key: this frame's callback is queued ahead of the terminal's redraw.
    terminal.addEventListener("keydown", () => this.paintEchoInNextFrame(performance.now()), {
      capture: true,
      signal: this.lifetime.signal,
    });
    this.showPath();
  }

  /** Attaches a console with `handlers`, whose output comes over a shell channel when it can. */
  attach(owner: Pick<OwnerRuntime, "attach">, vmId: string, handlers: ShellHandlers): ShellSession {
    return owner.attach(vmId, {
      ...handlers,
      fastChannel: (channel) => this.adopt(channel, (bytes) => handlers.output(bytes)),
    });
  }

  dispose(): void {
    this.lifetime.end();
    this.worker?.terminate();
    this.worker = null;
    this.fast = null;
  }

  private adopt(channel: SideChannel, write: (bytes: Uint8Array) => void): (() => void) | null {
    if (this.lifetime.ended || !canShareMemory()) return null;
    const native = channel.take();
    if (!native) return null;
    const id = this.nextId++;
    try {
      const request: ShellChannelRequest = { t: "add", id, channel: native as RTCDataChannel };
      this.workerPort().postMessage(request, [native as Transferable]);
    } catch {
      (native as RTCDataChannel).close(); // this browser cannot move it: the mesh carries the output
      return null;
    }
    this.fast = { id, output: new EarlyOutput(), greeted: false, write };
    this.showPath();
    return () => {
      this.worker?.postMessage({ t: "close", id } satisfies ShellChannelRequest);
      if (this.fast?.id === id) this.fast = null;
      this.showPath();
    };
  }

  private workerPort(): Worker {
    if (!this.worker) {
      this.worker = new Worker(shellChannelWorkerUrl, { type: "module", name: "shell-channels" });
      this.worker.addEventListener("message", (e: MessageEvent<ShellChannelEvent>) => this.onEvent(e.data), {
        signal: this.lifetime.signal,
      });
    }
    return this.worker;
  }

  private onEvent(event: ShellChannelEvent): void {
    const fast = this.fast;
    if (!fast || fast.id !== event.id) return;
    switch (event.t) {
      case "ring":
        fast.output.attach(event.ring);
        return;
      case "hello":
        fast.greeted = true;
        this.showPath();
        return;
      case "output": {
        const fresh = fast.output.fromMessage(event.bytes);
        if (fresh) fast.write(fresh);
        return;
      }
      case "closed":
        this.fast = null;
        this.showPath();
        return;
    }
  }

  /**
   * Reads the echo from shared memory in the frames right after a keystroke,
   * so it is painted in the first of them it reached (the messages bring it a
   * frame later).
   */
  private paintEchoInNextFrame(keyAtMs: number): void {
    const fast = this.fast;
    if (!fast?.greeted || !fast.output.hasRing) return;
    this.shell.readAhead((attempt) => {
      if (fast !== this.fast || this.lifetime.ended) return true;
      let fresh = fast.output.fromRing();
      // In the first frame, wait a little for an echo on its way (a remote one takes a few ms).
      const until = attempt === 0 ? Math.min(keyAtMs + ECHO_DUE_MS, performance.now() + ECHO_WAIT_MAX_MS) : 0;
      while (!fresh && performance.now() < until) fresh = fast.output.fromRing();
      if (!fresh) return false; // not back yet: the next frame
      fast.write(fresh);
      this.terminal.dataset.framePaints = String(Number(this.terminal.dataset.framePaints ?? 0) + 1);
      return true;
    }, ECHO_FRAMES);
  }

  /** Which way the output comes, for people reading the page's markup and for tests. */
  private showPath(): void {
    this.terminal.dataset.outputPath = this.fast?.greeted ? "worker" : "mesh";
  }
}
