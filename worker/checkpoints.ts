// Sealed checkpoints (a delta against the image's base state, packed with the
// transcript, gzipped and sealed with the VM key), and the base state's index
// that they and the local saves (local-saves.ts) are deltas against.
import * as Comlink from "comlink";
import type { V86 } from "v86";
import { seal, unseal } from "../core/crypto/vm-crypto.ts";
import { packCheckpoint, unpackCheckpoint } from "../core/guest/checkpoint-format.ts";
import { applyDelta, type BaseIndex, encodeDelta, indexBase } from "../core/guest/state-delta.ts";
import { exactBuffer, gunzip, gzip } from "../core/util/bytes.ts";
import type { BaseSource, SealedCheckpoint, StateSource } from "./api.ts";
import { keepBase, loadBase } from "./base-states.ts";
import { saveGuestState } from "./guest-nic.ts";

const baseIndexes = new Map<string, Promise<BaseIndex>>();
/** Base states this worker already holds unpacked (it restored them), by SHA-256: no second download. */
const knownBases = new Map<string, Uint8Array>();

/** Remembers the unpacked bytes of a base state this worker has anyway; they must not change afterwards. */
export function rememberBase(sha256: string, raw: Uint8Array): void {
  if (!baseIndexes.has(sha256)) knownBases.set(sha256, raw);
}

/**
 * The image state checkpoints are deltas against, indexed once per worker. Once
 * it is needed (a save, a checkpoint, a delta to open), it is also kept unpacked
 * on this device for the next restore.
 */
export function baseIndexFor(base: BaseSource): Promise<BaseIndex> {
  let index = baseIndexes.get(base.sha256);
  if (!index) {
    const known = knownBases.get(base.sha256);
    knownBases.delete(base.sha256);
    const raw = known ? Promise.resolve(known) : loadBase(base);
    index = raw.then((bytes) => {
      keepBase(base.sha256, bytes);
      return indexBase(bytes);
    });
    index.catch(() => baseIndexes.delete(base.sha256));
    baseIndexes.set(base.sha256, index);
  }
  return index;
}

/** The emulator's state as a sealed checkpoint carrying the transcript (transferred, not copied). */
export async function sealCheckpoint(
  emulator: V86,
  transcript: string,
  key: CryptoKey,
  context: string,
  base: BaseSource,
): Promise<SealedCheckpoint> {
  const index = await baseIndexFor(base);
  const t0 = performance.now();
  const raw = new Uint8Array(await saveGuestState(emulator));
  const t1 = performance.now();
  const delta = encodeDelta(raw, index);
  const sealed = await seal(key, await gzip(packCheckpoint(transcript, delta)), context);
  const t2 = performance.now();
  const result = {
    sealed: exactBuffer(sealed),
    rawBytes: raw.length,
    deltaBytes: delta.length,
    saveMs: Math.round(t1 - t0),
    packMs: Math.round(t2 - t1),
  };
  return Comlink.transfer(result, [result.sealed]);
}

/** A sealed checkpoint's raw state bytes and transcript. */
export async function openCheckpoint(
  source: StateSource & { kind: "sealed" },
): Promise<{ raw: Uint8Array; transcript: string }> {
  const packed = await gunzip(await unseal(source.key, new Uint8Array(source.bytes), source.context));
  const { transcript, delta } = unpackCheckpoint(packed);
  return { raw: applyDelta(delta, await baseIndexFor(source.base)), transcript };
}
