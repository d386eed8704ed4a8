// The order of a frame's callbacks decides in which frame an echo is painted:
// a model of the browser's animation frames and of xterm's redraw (one pending
// callback at most, asked for when something is written) shows an echo that
// missed the first frame painted in the second, not the third.
import { describe, expect, it } from "vitest";
import { EchoFrames, type FrameHost } from "../../web/echo-frames.ts";

class Frames {
  private queue: (() => void)[] = [];
  frame = 0;
  request(callback: () => void): void {
    this.queue.push(callback);
  }
  /** Runs one frame: the callbacks queued before it, in order (those asked for during it wait for the next). */
  run(): void {
    this.frame++;
    const now = this.queue;
    this.queue = [];
    for (const callback of now) callback();
  }
}

/** xterm's redraw as it behaves: one frame callback at most, asked for by a refresh or a write. */
class Terminal {
  private pending = false;
  private listeners = new Set<() => void>();
  private dirty = false;
  paintedInFrame: number | null = null;
  constructor(private readonly frames: Frames) {}
  refresh(): void {
    if (this.pending) return;
    this.pending = true;
    this.frames.request(() => {
      this.pending = false;
      if (this.dirty && this.paintedInFrame === null) this.paintedInFrame = this.frames.frame;
      this.dirty = false;
      for (const l of this.listeners) l();
    });
  }
  write(): void {
    this.dirty = true;
    this.refresh();
  }
  host(): FrameHost {
    return {
      requestFrame: (cb) => this.frames.request(cb),
      requestRedraw: () => this.refresh(),
      onRedrawn: (handler) => {
        this.listeners.add(handler);
        return () => this.listeners.delete(handler);
      },
    };
  }
}

/** A keystroke whose echo is there from frame `echoFrame` on; returns the frame it is painted in. */
function paintFrame(echoFrame: number, { terminalFirst = false } = {}): number | null {
  const frames = new Frames();
  const term = new Terminal(frames);
  if (terminalFirst) term.refresh(); // a redraw already pending when the key comes
  const echo = new EchoFrames(term.host());
  echo.readAhead(() => {
    if (frames.frame < echoFrame) return false;
    term.write();
    return true;
  }, 3);
  for (let i = 0; i < 5; i++) frames.run();
  echo.dispose();
  return term.paintedInFrame;
}

describe("EchoFrames", () => {
  it("paints an echo found in the first frame in that frame", () => {
    expect(paintFrame(1)).toBe(1);
  });

  it("paints an echo that missed the first frame in the second, not the third", () => {
    expect(paintFrame(2)).toBe(2);
    expect(paintFrame(3)).toBe(3);
  });

  it("keeps the order when the terminal's redraw was already pending ahead of the first read", () => {
    expect(paintFrame(2, { terminalFirst: true })).toBe(2);
  });

  it("stops after its frames, and a new keystroke's search replaces the old one", () => {
    const frames = new Frames();
    const term = new Terminal(frames);
    const echo = new EchoFrames(term.host());
    const reads: string[] = [];
    echo.readAhead((n) => {
      reads.push(`old${n}`);
      return false;
    }, 3);
    frames.run();
    echo.readAhead((n) => {
      reads.push(`new${n}`);
      return false;
    }, 2);
    for (let i = 0; i < 5; i++) frames.run();
    expect(reads).toEqual(["old0", "new0", "new1"]);
    echo.dispose();
  });

  it("reads nothing after it is disposed", () => {
    const frames = new Frames();
    const term = new Terminal(frames);
    const echo = new EchoFrames(term.host());
    let reads = 0;
    echo.readAhead(() => {
      reads++;
      return false;
    }, 3);
    echo.dispose();
    for (let i = 0; i < 4; i++) frames.run();
    expect(reads).toBe(0);
  });
});
