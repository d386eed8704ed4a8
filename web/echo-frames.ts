// Reads a shell's echo in the frames right after a keystroke, each time just
// ahead of the terminal's redraw in that frame, so what is read is painted in
// the frame it was read in.
//
// Why the order matters: xterm redraws from an animation-frame callback of its
// own, and asks for one only when none is pending. A read that finds nothing
// and asks for the next frame from inside this frame's callback is queued for
// that frame, but xterm's callback for it is not asked for until the echo is
// written, then lands in the frame after: an echo missed by one frame was
// painted two frames late. So the next read is asked for only once this frame's
// redraw is done, and the redraw asked for right after it, in that order.

export interface FrameHost {
  /** Runs `callback` in the next animation frame. */
  requestFrame(callback: () => void): void;
  /** Asks the terminal to redraw in the next frame (a callback of its own, unless one is pending). */
  requestRedraw(): void;
  /** Calls `handler` after each of the terminal's redraws; returns how to stop. */
  onRedrawn(handler: () => void): () => void;
}

/** Reads in frame `attempt` (0 is the first frame after the key); true once it has what it looked for. */
export type FrameRead = (attempt: number) => boolean;

export class EchoFrames {
  private redraws = 0;
  /** The search now running (a new keystroke's replaces it). */
  private search: object | null = null;
  /** The next read, waiting for this frame's redraw to be done. */
  private afterRedraw: (() => void) | null = null;
  private readonly stopListening: () => void;

  constructor(private readonly host: FrameHost) {
    this.stopListening = host.onRedrawn(() => {
      this.redraws++;
      const next = this.afterRedraw;
      this.afterRedraw = null;
      next?.();
    });
  }

  /** Calls `read` in each of the next `frames` frames, ahead of the terminal's redraw there, until it returns true. */
  readAhead(read: FrameRead, frames: number): void {
    const search = {};
    this.search = search;
    this.afterRedraw = null;
    this.attempt(search, read, 0, frames);
  }

  dispose(): void {
    this.search = null;
    this.afterRedraw = null;
    this.stopListening();
  }

  private attempt(search: object, read: FrameRead, attempt: number, frames: number): void {
    const redrawsBefore = this.redraws;
    this.host.requestFrame(() => {
      if (this.search !== search) return;
      if (read(attempt) || attempt + 1 >= frames) {
        this.search = null;
        return;
      }
      const next = () => {
        if (this.search === search) this.attempt(search, read, attempt + 1, frames);
      };
      // The terminal redrew ahead of this read (its callback was pending first): the next frame is free.
      if (this.redraws > redrawsBefore) next();
      else this.afterRedraw = next;
    });
    this.host.requestRedraw();
  }
}
