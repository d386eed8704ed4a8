// Makes this identity's stamp in a worker, slice by slice, reporting progress
// as the share of the expected work done (the search is luck: it may end well
// before 100 % or run past it).
import * as Comlink from "comlink";
import { STAMP_BITS, type Stamp, type StampSearch } from "../core/ledger/stamp.ts";
import stampWorkerUrl from "../worker/stamp.worker.ts?worker&url";

const SLICE_TRIES = 1 << 16;

export interface StampProgress {
  tries: number;
  expectedTries: number;
}

export async function makeStamp(
  publicKey: string,
  onProgress: (p: StampProgress) => void,
  signal: AbortSignal,
  bits = STAMP_BITS,
): Promise<Stamp> {
  const worker = new Worker(stampWorkerUrl, { type: "module", name: "stamp" });
  const api = Comlink.wrap<StampSearch>(worker);
  const expectedTries = 2 ** bits;
  try {
    for (let from = 0; ; from += SLICE_TRIES) {
      if (signal.aborted) throw new Error("stopped");
      const found = await api.search(publicKey, bits, from, SLICE_TRIES);
      onProgress({ tries: from + SLICE_TRIES, expectedTries });
      if (found) return found;
    }
  } finally {
    api[Comlink.releaseProxy]();
    worker.terminate();
  }
}
