// The browser's KeyValueStore: IndexedDB through idb-keyval.
import { createStore, del, get, keys, set, type UseStore } from "idb-keyval";
import type { KeyValueStore } from "../core/state/storage.ts";

export class IdbStore implements KeyValueStore {
  private readonly db: UseStore;
  constructor(dbName: string, storeName = "kv") {
    this.db = createStore(dbName, storeName);
  }
  async keys(): Promise<string[]> {
    return (await keys(this.db)).map(String);
  }
  get(key: string): Promise<unknown> {
    return get(key, this.db);
  }
  set(key: string, value: unknown): Promise<void> {
    return set(key, value, this.db);
  }
  delete(key: string): Promise<void> {
    return del(key, this.db);
  }
}
