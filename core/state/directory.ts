// The network's directory: each peer's signed profile (its display name), in
// that peer's own slot of the shared state, so nobody else can change or remove
// it. Readers keep only entries whose signature holds and whose key is the key
// of the id they sit under; an entry that is not a valid profile is dropped (and
// counted), never the read around it.
import type { Identity } from "../crypto/identity.ts";
import { signEntry, type Verified, verifyEntry } from "../crypto/signed.ts";
import type { AuthorStore } from "./author-store.ts";

export const PROFILE_KIND = "profile/1";
export const MAX_NAME_LENGTH = 40;

export interface Profile {
  peerId: string;
  name: string;
  updatedAt: number;
}

export function cleanName(name: string): string {
  const printable = [...name].filter((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f).join("");
  return printable.trim().slice(0, MAX_NAME_LENGTH);
}

export function parseProfile(v: unknown): Profile | null {
  if (typeof v !== "object" || v === null) return null;
  const p = v as Record<string, unknown>;
  if (typeof p.peerId !== "string" || typeof p.name !== "string" || typeof p.updatedAt !== "number")
    return null;
  if (p.name !== cleanName(p.name) || !Number.isFinite(p.updatedAt)) return null;
  return { peerId: p.peerId, name: p.name, updatedAt: p.updatedAt };
}

export interface DirectoryStats {
  /** Entries the last full read dropped: unsigned, forged, malformed or under another id. */
  invalid: number;
}

export class Directory {
  readonly stats: DirectoryStats = { invalid: 0 };

  constructor(
    private readonly store: AuthorStore,
    private readonly identity: Identity,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `fn` whenever a profile changes; returns the unsubscribe. */
  observe(fn: () => void): () => void {
    return this.store.on("change", (slot) => {
      if (slot.space === "profiles") fn();
    });
  }

  async setName(name: string): Promise<void> {
    const payload: Profile = { peerId: this.identity.peerId, name: cleanName(name), updatedAt: this.now() };
    await this.store.put(
      "profiles",
      this.identity.peerId,
      await signEntry(this.identity, PROFILE_KIND, payload),
    );
  }

  /** Our own profile as the state has it (ours from another tab included). */
  async ownProfile(): Promise<Profile | null> {
    const value = this.store.get(this.identity.peerId, "profiles", this.identity.peerId);
    return (await this.verified(this.identity.peerId, value))?.payload ?? null;
  }

  /** Every valid profile, by peer id: each from its own peer's slot. */
  async profiles(): Promise<Map<string, Verified<Profile>>> {
    const out = new Map<string, Verified<Profile>>();
    let invalid = 0;
    await Promise.all(
      this.store.list("profiles").map(async (slot) => {
        const v = slot.key === slot.author ? await this.verified(slot.key, slot.value) : null;
        if (v) out.set(slot.key, v);
        else invalid++;
      }),
    );
    this.stats.invalid = invalid;
    return out;
  }

  /** The profile under `peerId` if it is valid and that peer's own; null otherwise (never throws). */
  private async verified(peerId: string, value: unknown): Promise<Verified<Profile> | null> {
    const v = await verifyEntry(value, PROFILE_KIND, parseProfile);
    return v && v.signer === peerId && v.payload.peerId === peerId ? v : null;
  }
}
