// A KeyValueStore in a folder, for the headless contributor's --data: one file
// per key (the key's UTF-8 in base64url as its name), the value as a structured
// clone (node:v8's serializer, the same algorithm postMessage uses). A write goes
// to a temporary file first and is renamed over the old one, so a crash leaves
// the old value or the new one, never half of one.
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deserialize, serialize } from "node:v8";
import type { KeyValueStore } from "../core/state/storage.ts";

const SUFFIX = ".v8";
/** File names stay well under the usual 255-byte limit. */
const MAX_NAME_BYTES = 240;

const nameOf = (key: string) => `${Buffer.from(key, "utf8").toString("base64url")}${SUFFIX}`;
const keyOf = (name: string) => Buffer.from(name.slice(0, -SUFFIX.length), "base64url").toString("utf8");

export class FileStore implements KeyValueStore {
  /** Writes and deletes in order, one at a time, so an older value never lands after a newer one. */
  private queue: Promise<unknown> = Promise.resolve();
  private ready: Promise<unknown>;
  private tmp = 0;

  constructor(private readonly dir: string) {
    this.ready = mkdir(dir, { recursive: true });
  }

  private inOrder<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => this.ready).then(work);
    this.queue = next.catch(() => {});
    return next;
  }

  async keys(): Promise<string[]> {
    await this.queue;
    const names = await readdir(this.dir);
    // Key order as IndexedDB lists string keys (UTF-16 code units), as the default sort does.
    return names
      .filter((n) => n.endsWith(SUFFIX))
      .map(keyOf)
      .sort();
  }

  async get(key: string): Promise<unknown> {
    await this.queue;
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.dir, nameOf(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    return deserialize(bytes);
  }

  set(key: string, value: unknown): Promise<void> {
    const name = nameOf(key);
    if (Buffer.byteLength(name) > MAX_NAME_BYTES)
      return Promise.reject(new Error(`key too long: ${key.slice(0, 40)}…`));
    // Serialized now, so a later change to `value` does not reach the store (and what cannot be cloned rejects now).
    let bytes: Buffer;
    try {
      bytes = serialize(value);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.inOrder(async () => {
      const tmp = join(this.dir, `.tmp-${process.pid}-${this.tmp++}`);
      await writeFile(tmp, bytes);
      await rename(tmp, join(this.dir, name));
    });
  }

  delete(key: string): Promise<void> {
    return this.inOrder(() => rm(join(this.dir, nameOf(key)), { force: true }));
  }
}
