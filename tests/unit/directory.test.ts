import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createIdentity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { Directory, PROFILE_KIND } from "../../core/state/directory.ts";

/**
 * Waits until every check the directories have queued has run, including checks
 * queued by the writes those checks made (the repairs run one at a time on one
 * promise chain, so when the chain stops growing nothing is left to happen).
 */
async function drained(...directories: Directory[]): Promise<void> {
  const chainOf = (d: Directory) => (d as unknown as { repairs: Promise<void> }).repairs;
  for (;;) {
    const chains = directories.map(chainOf);
    await Promise.all(chains);
    await new Promise((r) => setImmediate(r));
    if (directories.every((d, i) => chainOf(d) === chains[i])) return;
  }
}

/** Two documents that exchange every update at once, as a mesh link would. */
function linkedDocs(): [Y.Doc, Y.Doc] {
  const a = new Y.Doc();
  const b = new Y.Doc();
  a.on("update", (u: Uint8Array, origin: unknown) => origin !== "link" && Y.applyUpdate(b, u, "link"));
  b.on("update", (u: Uint8Array, origin: unknown) => origin !== "link" && Y.applyUpdate(a, u, "link"));
  return [a, b];
}

describe("directory", () => {
  it("puts back its own entry when another peer overwrites it while a check is still running", async () => {
    // Alice's own write starts a check of her entry; Mallory's overwrite lands at
    // every point during that check, one trial per point.
    for (let delayTicks = 0; delayTicks < 12; delayTicks++) {
      const [aliceDoc, malloryDoc] = linkedDocs();
      const alice = await createIdentity();
      const mallory = await createIdentity();
      const directory = new Directory(aliceDoc, alice);
      const malloryView = new Directory(malloryDoc, mallory);
      // A genuine signature, by Mallory's key, over a newer profile claiming Alice's id:
      // only the check that the signer is the id's owner keeps it out.
      const forged = await signEntry(mallory, PROFILE_KIND, {
        peerId: alice.peerId,
        name: "mallory-as-alice",
        updatedAt: Date.now() + 1000,
      });
      await directory.setName("alice");
      for (let i = 0; i < delayTicks; i++) await new Promise((r) => setImmediate(r));
      malloryDoc.getMap("profiles").set(alice.peerId, forged);
      const nameAtMallory = async () => (await malloryView.profiles()).get(alice.peerId)?.payload.name;
      await drained(directory, malloryView);
      expect(await nameAtMallory(), `overwrite after ${delayTicks} ticks`).toBe("alice");
      expect((await directory.ownProfile())?.name).toBe("alice");
      directory.stop();
      malloryView.stop();
    }
  });

  it("adopts a newer entry of its own identity written by another tab, and keeps it", async () => {
    const [tabA, tabB] = linkedDocs();
    const alice = await createIdentity();
    const a = new Directory(tabA, alice);
    const b = new Directory(tabB, alice);
    await a.setName("first");
    await drained(a, b);
    await b.setName("second");
    await drained(a, b);
    expect((await a.ownProfile())?.name).toBe("second");
    expect((await b.ownProfile())?.name).toBe("second");
    a.stop();
    b.stop();
  });

  it("restores its entry after a deletion", async () => {
    const [aliceDoc, otherDoc] = linkedDocs();
    const alice = await createIdentity();
    const directory = new Directory(aliceDoc, alice);
    await directory.setName("alice");
    await drained(directory);
    otherDoc.getMap("profiles").delete(alice.peerId);
    await drained(directory);
    expect((await directory.ownProfile())?.name).toBe("alice");
    expect(otherDoc.getMap("profiles").has(alice.peerId)).toBe(true);
    directory.stop();
  });
});
