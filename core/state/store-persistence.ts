// Keeps the shared state across reloads: every slot this peer holds is written
// to a key-value store (IndexedDB in the page) as it changes, and read back on
// start. What is read back is applied like anything from a peer: verified,
// within quota, newest wins, so a tampered or stale copy on disk costs only itself.
import type { AuthorStore } from "./author-store.ts";
import type { KeyValueStore } from "./storage.ts";

const PREFIX = "state/";

export class StorePersistence {
  private readonly off: () => void;
  /** Writes in order, one at a time, so an older value never lands after a newer one. */
  private writes: Promise<void> = Promise.resolve();
  /** Values that failed to write (the disk refused); counted, and the next write goes on. */
  failures = 0;

  constructor(
    private readonly store: AuthorStore,
    private readonly kv: KeyValueStore,
  ) {
    this.off = store.on("change", (slot) => {
      const key = `${PREFIX}${slot.author}/${slot.space}/${slot.key}`;
      this.writes = this.writes
        .then(() => this.kv.set(key, slot.entry))
        .catch(() => {
          this.failures++;
        });
    });
  }

  /** Reads back what was kept; resolves with how many entries were applied. */
  async load(): Promise<number> {
    let applied = 0;
    for (const key of await this.kv.keys()) {
      if (!key.startsWith(PREFIX)) continue;
      if ((await this.store.apply(await this.kv.get(key), this)) === "applied") applied++;
    }
    return applied;
  }

  /** Resolves once every change so far is on disk. */
  flushed(): Promise<void> {
    return this.writes;
  }

  dispose(): void {
    this.off();
  }
}
