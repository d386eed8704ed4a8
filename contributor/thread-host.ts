// One hosted VM in its own worker thread: the handle web/vm-engine.ts drives,
// as the page's VmWorker is for a Web Worker. A thread that dies rejects what
// waits on it instead of hanging; stopping it ends the thread whatever it does.
import { Worker } from "node:worker_threads";
import * as Comlink from "comlink";
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs";
import { withTimeout } from "../core/util/async.ts";
import type { HostHandle } from "../web/vm-engine.ts";
import type { StartRequest, StartResult, VmHostApi, VmHostEvents } from "../worker/api.ts";

const STOP_TIMEOUT_MS = 2000;

export class ThreadHost implements HostHandle {
  private readonly worker: Worker;
  readonly api: Comlink.Remote<VmHostApi>;
  private readonly crash: Promise<never>;

  constructor() {
    this.worker = new Worker(new URL("./vm-thread-boot.mjs", import.meta.url), {
      name: "vm-host",
    });
    this.crash = new Promise<never>((_, reject) => {
      this.worker.once("error", (err) => reject(new Error(`the VM thread failed: ${err.message}`)));
      this.worker.once("exit", (code) => reject(new Error(`the VM thread exited (code ${code})`)));
    });
    this.crash.catch(() => {});
    this.api = Comlink.wrap<VmHostApi>(nodeEndpoint(this.worker));
  }

  start(request: StartRequest, events: VmHostEvents): Promise<StartResult> {
    const transfer = request.states.flatMap((s) =>
      s.kind === "bytes" || s.kind === "delta" || s.kind === "sealed" ? [s.bytes] : [],
    );
    return Promise.race([
      this.api.start(Comlink.transfer(request, transfer), Comlink.proxy(events)),
      this.crash,
    ]);
  }

  async dispose(): Promise<void> {
    try {
      await withTimeout(Promise.race([this.api.destroy(), this.crash]), STOP_TIMEOUT_MS, "stopping the VM");
    } catch {
      // the thread goes regardless
    } finally {
      this.api[Comlink.releaseProxy]();
      await this.worker.terminate();
    }
  }
}
