// The headless contributor's folder store passes the same acceptance suite as
// IndexedDB and the in-memory twin, and keeps its values across a new instance.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { FileStore } from "../../contributor/file-store.ts";
import { describeKeyValueStore } from "../acceptance/key-value-store.suite.ts";

const root = mkdtempSync(join(tmpdir(), "spare-cycles-file-store-"));
let stores = 0;

afterAll(() => rmSync(root, { recursive: true, force: true }));

describeKeyValueStore("FileStore", () => new FileStore(join(root, `store-${++stores}`)));

it("FileStore: a new instance on the same folder reads back what the last one wrote", async () => {
  const dir = join(root, "reopened");
  const first = new FileStore(dir);
  await first.set("replica/vm/1/2", { sealed: new Uint8Array([1, 2, 3]), seq: 2 });
  await first.set("gone", 1);
  await first.delete("gone");
  const second = new FileStore(dir);
  expect(await second.keys()).toEqual(["replica/vm/1/2"]);
  expect(await second.get("replica/vm/1/2")).toEqual({ sealed: new Uint8Array([1, 2, 3]), seq: 2 });
});
