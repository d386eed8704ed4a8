// The owner's VM keys. The `keys` store holds one master key per VM, under the
// VM's id (so the identity file carries it, and a device that imports it can
// still open every checkpoint). Each epoch's key is derived from the master
// (HKDF over the VM id and epoch): every epoch has its own key, a host is
// handed only the key of its epoch (and of the checkpoint it restores from),
// and nothing it holds opens a later epoch's checkpoints. Deriving rather than
// storing a random key per epoch means there is nothing more to keep, export
// or lose; the owner can always rebuild the key of any epoch it ever issued.
import { deriveVmKey, importVmKey } from "../crypto/vm-crypto.ts";
import type { KeyValueStore } from "../state/storage.ts";

export class VmKeys {
  private readonly cache = new Map<string, Promise<CryptoKey | null>>();

  constructor(private readonly store: KeyValueStore) {}

  /** Whether this device holds the VM's master key. */
  async has(vmId: string): Promise<boolean> {
    return typeof (await this.store.get(vmId)) === "string";
  }

  /** The key of `epoch` of the VM, or null if this device does not hold the VM's master key. */
  forEpoch(vmId: string, epoch: number): Promise<CryptoKey | null> {
    const id = `${vmId}/${epoch}`;
    let key = this.cache.get(id);
    if (!key) {
      key = this.derive(vmId, epoch);
      if (this.cache.size >= 256) this.cache.clear();
      this.cache.set(id, key);
      // A failure (no key yet) is not remembered.
      void key.then((k) => k === null && this.cache.delete(id));
    }
    return key;
  }

  forget(vmId: string): void {
    for (const id of [...this.cache.keys()]) if (id.startsWith(`${vmId}/`)) this.cache.delete(id);
  }

  private async derive(vmId: string, epoch: number): Promise<CryptoKey | null> {
    const text = await this.store.get(vmId);
    if (typeof text !== "string") return null;
    return deriveVmKey(await importVmKey(text), `epoch/${vmId}/${epoch}`);
  }
}
