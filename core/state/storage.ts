// A small store of values by key: IndexedDB in the browser, memory in tests.

export interface KeyValueStore {
  /** Every key, in key order (as IndexedDB lists them). */
  keys(): Promise<string[]>;
  /** A copy of the value (a structured clone), or undefined for a key never set. */
  get(key: string): Promise<unknown>;
  /** Stores a structured clone of `value`; rejects if it cannot be cloned. */
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
}

/**
 * The in-memory twin of the IndexedDB store: it keeps and hands back structured
 * clones, so a caller that changes a value it got must set it again, as with IndexedDB.
 */
export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, unknown>();
  async keys(): Promise<string[]> {
    // IndexedDB orders string keys by UTF-16 code unit, as the default sort does.
    return [...this.map.keys()].sort();
  }
  async get(key: string): Promise<unknown> {
    return structuredClone(this.map.get(key));
  }
  async set(key: string, value: unknown): Promise<void> {
    this.map.set(key, structuredClone(value));
  }
  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }
}
