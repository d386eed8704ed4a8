// This device's identity, kept in IndexedDB; made on first use. Its export file
// also carries the keys of the VMs it owns, so moving to another device (or
// recovering) keeps the VMs' checkpoints readable.
import {
  createIdentity,
  exportIdentity,
  type Identity,
  type IdentityFile,
  importIdentity,
  vmKeysOf,
} from "../core/crypto/identity.ts";
import type { KeyValueStore } from "../core/state/storage.ts";

const KEY = "identity";

export async function loadOrCreateIdentity(store: KeyValueStore): Promise<Identity> {
  const saved = await store.get(KEY);
  if (saved) {
    try {
      const identity = await importIdentity(saved);
      // A file from before box keys existed got a new one: keep it, or it would change at every start.
      if (!(saved as Partial<IdentityFile>).boxKey) await store.set(KEY, await exportIdentity(identity));
      return identity;
    } catch (err) {
      // Never drop a key silently: keep the unreadable one aside before making a new one.
      await store.set(`${KEY}-unreadable-${Date.now()}`, saved);
      console.error("the saved identity could not be read; a new one was made", err);
    }
  }
  const identity = await createIdentity();
  await store.set(KEY, await exportIdentity(identity));
  return identity;
}

/** Takes an identity file as this device's identity, with the VM keys it carries. */
export async function replaceIdentity(
  store: KeyValueStore,
  vmKeys: KeyValueStore,
  file: unknown,
): Promise<Identity> {
  const identity = await importIdentity(file);
  for (const [vmId, key] of Object.entries(vmKeysOf(file))) {
    if ((await vmKeys.get(vmId)) === undefined) await vmKeys.set(vmId, key);
  }
  await store.set(KEY, await exportIdentity(identity));
  return identity;
}

/** The file "Export identity" saves: the keys, and the keys of the VMs this identity owns. */
export async function identityFile(identity: Identity, vmKeys: KeyValueStore): Promise<IdentityFile> {
  const keys: Record<string, string> = {};
  for (const vmId of await vmKeys.keys()) {
    const key = await vmKeys.get(vmId);
    if (typeof key === "string") keys[vmId] = key;
  }
  return exportIdentity(identity, { vmKeys: keys });
}
