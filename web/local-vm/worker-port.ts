// What the local VM controller needs of a VM worker and of the guest image: the
// page hands it the real ones (VmWorker, web/guest.ts), tests hand it fakes.
import type { GuestFilePort } from "../../core/vm/file-transfer.ts";
import type {
  BaseSource,
  GuestSource,
  StartRequest,
  StartResult,
  StateSource,
  VmHostEvents,
  VmSnapshot,
  VmStats,
} from "../../worker/api.ts";

/** One VM host worker, as web/vm-worker.ts's VmWorker offers it. */
export interface LocalVmWorker {
  /** With the file calls (GuestFilePort) where the worker has them. */
  readonly api: Partial<GuestFilePort> & {
    input(bytes: Uint8Array): Promise<void>;
    snapshot(base?: BaseSource): Promise<VmSnapshot>;
    pause(): Promise<void>;
    resume(): Promise<void>;
    setBudget(pct: number): Promise<void>;
    stats(): Promise<VmStats>;
    /** The console's output in shared memory, if the worker offers it. */
    outputRing?(): Promise<SharedArrayBuffer | null>;
  };
  prepare(guest: GuestSource, likelyState: StateSource | null): Promise<void>;
  start(request: StartRequest, events: VmHostEvents): Promise<StartResult>;
  dispose(): Promise<void>;
}

/** The guest image this build ships. */
export interface LocalVmGuest {
  imageId: string;
  v86Version: string;
  source(): GuestSource;
  imageState(): StateSource;
  /** Makes sure a VM can start offline; true when it can. */
  keepCached(): Promise<boolean>;
}
