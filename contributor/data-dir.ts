// What the headless contributor keeps between runs with --data DIR: its
// identity (so the credit it earns stays its own), the shared state (read back
// verified, like anything from a peer), and the replicas it holds for other
// owners (ciphertext it cannot read). Without --data all of it lives in memory.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createIdentity, exportIdentity, type Identity, importIdentity } from "../core/crypto/identity.ts";
import { type KeyValueStore, MemoryStore } from "../core/state/storage.ts";
import { FileStore } from "./file-store.ts";

export interface ContributorData {
  identity: Identity;
  /** True when the identity was read back from the folder. */
  knownIdentity: boolean;
  state: KeyValueStore | undefined;
  replicas: KeyValueStore;
}

async function loadOrCreateIdentity(file: string): Promise<{ identity: Identity; known: boolean }> {
  let text: string | null = null;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (text !== null) return { identity: await importIdentity(JSON.parse(text)), known: true };
  const identity = await createIdentity();
  // Only its owner may read the private key; "wx" never overwrites one written meanwhile.
  await writeFile(file, JSON.stringify(await exportIdentity(identity), null, 2), { mode: 0o600, flag: "wx" });
  return { identity, known: false };
}

export async function openContributorData(dir: string | null): Promise<ContributorData> {
  if (!dir)
    return {
      identity: await createIdentity(),
      knownIdentity: false,
      state: undefined,
      replicas: new MemoryStore(),
    };
  const state = new FileStore(join(dir, "state"));
  const replicas = new FileStore(join(dir, "replicas"));
  // The stores make the folder; the identity file goes in it.
  await state.keys();
  const { identity, known } = await loadOrCreateIdentity(join(dir, "identity.json"));
  return { identity, knownIdentity: known, state, replicas };
}
