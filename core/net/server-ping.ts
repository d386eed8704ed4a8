// The signaling client's check that the server still answers: a ping every
// `intervalMs` while joined, and the connection counts as lost when no pong
// came back within `timeoutMs`.
import type { Clock } from "../util/clock.ts";

export interface ServerPingOptions {
  clock: Clock;
  intervalMs: number;
  timeoutMs: number;
  /** Sends one ping; false when it could not go out (no socket). */
  send: () => boolean;
  /** No pong within `timeoutMs`. */
  silent: () => void;
}

export class ServerPing {
  private cancelPing: (() => void) | null = null;
  private cancelTimeout: (() => void) | null = null;

  constructor(private readonly options: ServerPingOptions) {}

  /** Pings every `intervalMs` from now on, until a ping cannot go out or `stop`. */
  start(): void {
    const { clock, intervalMs, timeoutMs } = this.options;
    this.cancelPing?.();
    this.cancelPing = clock.after(intervalMs, () => {
      this.cancelPing = null;
      if (!this.options.send()) return;
      this.cancelTimeout?.();
      this.cancelTimeout = clock.after(timeoutMs, () => {
        this.cancelTimeout = null;
        this.options.silent();
      });
      this.start();
    });
  }

  /** The server answered. */
  pong(): void {
    this.cancelTimeout?.();
    this.cancelTimeout = null;
  }

  stop(): void {
    this.cancelPing?.();
    this.pong();
    this.cancelPing = null;
  }
}
