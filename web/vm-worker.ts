// The page's handle on one VM host worker.
import * as Comlink from "comlink";
import { withTimeout } from "../core/util/async.ts";
import type { StartRequest, StartResult, VmHostApi, VmHostEvents } from "../worker/api.ts";
import vmHostWorkerUrl from "../worker/vm-host.worker.ts?worker&url";

export class VmWorker {
  private readonly worker: Worker;
  readonly api: Comlink.Remote<VmHostApi>;
  private crashed: ((err: Error) => void) | null = null;
  private readonly crash: Promise<never>;

  constructor() {
    this.worker = new Worker(`${vmHostWorkerUrl}#use-scheduling-api`, { type: "module", name: "vm-host" });
    this.crash = new Promise<never>((_, reject) => {
      this.crashed = reject;
    });
    this.crash.catch(() => {});
    this.worker.addEventListener("error", (event) => {
      this.crashed?.(new Error(`the VM worker failed: ${event.message || "unknown error"}`));
    });
    this.api = Comlink.wrap<VmHostApi>(this.worker);
  }

  /** Gets the worker ready to start quickly (see VmHostApi.prepare). */
  prepare(...args: Parameters<VmHostApi["prepare"]>): Promise<void> {
    return Promise.race([this.api.prepare(...args), this.crash]);
  }

  /** Starts the VM; a crash of the worker rejects instead of hanging. */
  start(request: StartRequest, events: VmHostEvents): Promise<StartResult> {
    const transfer = request.states.flatMap((s) =>
      s.kind === "bytes" || s.kind === "delta" ? [s.bytes] : [],
    );
    return Promise.race([
      this.api.start(Comlink.transfer(request, transfer), Comlink.proxy(events)),
      this.crash,
    ]);
  }

  async dispose(): Promise<void> {
    try {
      await withTimeout(this.api.destroy(), 2000, "stopping the VM");
    } catch {
      // the worker is going away regardless
    } finally {
      this.api[Comlink.releaseProxy]();
      this.worker.terminate();
    }
  }
}
