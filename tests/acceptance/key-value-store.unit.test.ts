// The key-value acceptance suite against both stores: the in-memory twin, and
// the browser's IndexedDB store (idb-keyval) on fake-indexeddb in Node.
import "fake-indexeddb/auto";
import { MemoryStore } from "../../core/state/storage.ts";
import { IdbStore } from "../../web/idb-store.ts";
import { describeKeyValueStore } from "./key-value-store.suite.ts";

describeKeyValueStore("MemoryStore", () => new MemoryStore());

let databases = 0;
describeKeyValueStore("IdbStore (fake-indexeddb)", () => new IdbStore(`acceptance-${++databases}`));
