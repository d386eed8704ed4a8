import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createIdentity } from "../../core/crypto/identity.ts";
import { Directory } from "../../core/state/directory.ts";

const settle = () => new Promise((r) => setTimeout(r, 50));

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
      await directory.setName("alice");
      for (let i = 0; i < delayTicks; i++) await new Promise((r) => setImmediate(r));
      malloryDoc.getMap("profiles").set(alice.peerId, {
        kind: "profile/1",
        payload: { peerId: alice.peerId, name: "mallory-as-alice", updatedAt: Date.now() + 1000 },
        publicKey: mallory.publicKey,
        signature: "A".repeat(86),
      });
      const nameAtMallory = async () => (await malloryView.profiles()).get(alice.peerId)?.payload.name;
      for (let i = 0; i < 20 && (await nameAtMallory()) !== "alice"; i++) await settle();
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
    await settle();
    await b.setName("second");
    await settle();
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
    await settle();
    otherDoc.getMap("profiles").delete(alice.peerId);
    await settle();
    expect((await directory.ownProfile())?.name).toBe("alice");
    expect(otherDoc.getMap("profiles").has(alice.peerId)).toBe(true);
    directory.stop();
  });
});
