// A worker made ready ahead of "New VM", so a new VM starts in well under a
// second. It is prepared only when wanted, while someone looks at the page, and
// when the browser is idle.
import type { LocalVmWorker } from "./worker-port.ts";

export interface SpareOptions {
  create(): LocalVmWorker;
  /** Gets a new worker ready to start (emulator and likely state loaded). */
  prepare(worker: LocalVmWorker): Promise<void>;
  /** Runs `fn` when the browser is idle; the returned function cancels it. */
  whenIdle(fn: () => void): () => void;
  /** Whether a spare makes sense right now (false while a VM runs). */
  needed(): boolean;
  /** The spare finished preparing and is still the spare. */
  ready(): void;
}

export class SpareWorker {
  private worker: LocalVmWorker | null = null;
  private wanted = false;
  private visible = true;
  private cancelIdle: (() => void) | null = null;

  constructor(private readonly options: SpareOptions) {}

  /** Prepares a spare once the page is seen. */
  want(): void {
    this.wanted = true;
    this.prepareWhenSeen();
  }

  setVisible(visible: boolean): void {
    this.visible = visible;
    this.prepareWhenSeen();
  }

  /** Hands over the spare (prepared or not), if there is one. */
  take(): LocalVmWorker | null {
    const worker = this.worker;
    this.worker = null;
    return worker;
  }

  /** Stops a pending preparation and the spare worker. */
  async dispose(): Promise<void> {
    this.wanted = false;
    this.cancelIdle?.();
    this.cancelIdle = null;
    await this.take()?.dispose();
  }

  private prepareWhenSeen(): void {
    if (!this.wanted || !this.visible || this.worker || !this.options.needed()) return;
    this.wanted = false;
    this.cancelIdle = this.options.whenIdle(() => {
      this.cancelIdle = null;
      this.prepare();
    });
  }

  private prepare(): void {
    if (this.worker || !this.options.needed()) return;
    const worker = this.options.create();
    this.worker = worker;
    this.options.prepare(worker).then(
      () => {
        if (this.worker === worker) this.options.ready();
      },
      () => {
        // Not fatal: starting will try again and report what went wrong.
      },
    );
  }
}
