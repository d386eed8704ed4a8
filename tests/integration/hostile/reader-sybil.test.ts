// Attack 6 (part): thrashing the signature cache. A peer of the room writes
// 11,000 valid profiles, each under a key of its own. Readers look at the
// directory again and again; every entry they have checked once must be checked
// from the cache after that, however many entries there are up to its bound.
import { afterEach, describe, expect, it, vi } from "vitest";
import * as Y from "yjs";
import { createIdentity, type Identity, peerIdFromPublicKey } from "../../../core/crypto/identity.ts";
import { signEntry } from "../../../core/crypto/signed.ts";
import { Directory, PROFILE_KIND } from "../../../core/state/directory.ts";
import { toBase64Url } from "../../../core/util/base64url.ts";

const SYBILS = 11_000;

/** A signing identity without the extras a real one has (its box key): cheap to make by the thousand. */
async function sybil(): Promise<Identity> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const publicKey = toBase64Url(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)));
  return { peerId: await peerIdFromPublicKey(publicKey), publicKey, privateKey: pair.privateKey } as Identity;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("hostile: Sybil entries thrash the signature cache", () => {
  it("11,000 valid entries read twice: the second read verifies nothing again", async () => {
    const doc = new Y.Doc();
    const entries = await Promise.all(
      Array.from({ length: SYBILS }, async (_, i) => {
        const id = await sybil();
        return [
          id.peerId,
          await signEntry(id, PROFILE_KIND, { peerId: id.peerId, name: `s${i}`, updatedAt: 1 }),
        ];
      }),
    );
    const map = doc.getMap("profiles");
    doc.transact(() => {
      for (const [k, v] of entries) map.set(k as string, v);
    });
    const reader = new Directory(doc, await createIdentity());
    const verify = vi.spyOn(crypto.subtle, "verify");

    let start = performance.now();
    expect((await reader.profiles()).size).toBe(SYBILS);
    const firstMs = performance.now() - start;
    const firstVerifies = verify.mock.calls.length;
    verify.mockClear();

    start = performance.now();
    expect((await reader.profiles()).size).toBe(SYBILS);
    const secondMs = performance.now() - start;
    console.log(
      `Sybil directory read: first ${firstMs.toFixed(0)} ms (${firstVerifies} verifies), ` +
        `second ${secondMs.toFixed(0)} ms (${verify.mock.calls.length} verifies)`,
    );
    expect(firstVerifies).toBe(SYBILS);
    expect(verify.mock.calls.length).toBe(0);
    reader.stop();
  });
});
