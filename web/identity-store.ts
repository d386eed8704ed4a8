// This device's identity, kept in IndexedDB; made on first use.
import {
  createIdentity,
  exportIdentity,
  type Identity,
  type IdentityFile,
  importIdentity,
} from "../core/identity.ts";
import type { KeyValueStore } from "../core/storage.ts";

const KEY = "identity";

export async function loadOrCreateIdentity(store: KeyValueStore): Promise<Identity> {
  const saved = await store.get(KEY);
  if (saved) {
    try {
      return await importIdentity(saved);
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

export async function replaceIdentity(store: KeyValueStore, file: unknown): Promise<Identity> {
  const identity = await importIdentity(file);
  await store.set(KEY, await exportIdentity(identity));
  return identity;
}

export async function identityFile(identity: Identity): Promise<IdentityFile> {
  return exportIdentity(identity);
}
