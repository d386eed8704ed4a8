// The network's directory: each peer's signed profile (its display name) in the
// shared document, keyed by peer id. Readers keep only entries whose signature
// holds and whose key is the key of the id they sit under. Each peer repairs its
// own entry when someone deletes or overwrites it. Anyone can write anything
// here: an entry that is not a valid profile is dropped (and counted), never the
// read around it, and a check that fails for any reason does not stop the ones after.
import type * as Y from "yjs";
import type { Identity } from "../crypto/identity.ts";
import { type SignedEntry, signEntry, type Verified, verifyEntry } from "../crypto/signed.ts";

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
  /** Repair checks that failed (each is counted and the next one runs). */
  repairFailures: number;
  /** Why the last repair check failed, if one did. */
  lastRepairError: string | null;
}

export class Directory {
  readonly map: Y.Map<unknown>;
  readonly stats: DirectoryStats = { invalid: 0, repairFailures: 0, lastRepairError: null };
  private own: SignedEntry<Profile> | null = null;
  private readonly observer: () => void;
  private repairs: Promise<void> = Promise.resolve();

  constructor(
    doc: Y.Doc,
    private readonly identity: Identity,
    private readonly now: () => number = Date.now,
  ) {
    this.map = doc.getMap("profiles");
    this.observer = () => this.repair();
    this.map.observe(this.observer);
  }

  stop(): void {
    this.map.unobserve(this.observer);
  }

  async setName(name: string): Promise<void> {
    const payload: Profile = { peerId: this.identity.peerId, name: cleanName(name), updatedAt: this.now() };
    this.own = await signEntry(this.identity, PROFILE_KIND, payload);
    this.map.set(this.identity.peerId, this.own);
  }

  /** Our own profile as the document has it (ours from another tab included). */
  async ownProfile(): Promise<Profile | null> {
    return (await this.verified(this.identity.peerId, this.map.get(this.identity.peerId)))?.payload ?? null;
  }

  /** Every valid profile, by peer id. */
  async profiles(): Promise<Map<string, Verified<Profile>>> {
    const out = new Map<string, Verified<Profile>>();
    let invalid = 0;
    await Promise.all(
      [...this.map.entries()].map(async ([peerId, value]) => {
        const v = await this.verified(peerId, value);
        if (v) out.set(peerId, v);
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

  /**
   * Puts our entry back if it was removed or replaced by anything but a newer one
   * of ours. Checks run one at a time, each on the value it read, so a check that
   * finishes late never adopts a value written while it ran. A check that fails
   * is counted and the chain goes on: the next change is checked all the same.
   */
  private repair(): void {
    this.repairs = this.repairs
      .then(() => this.repairOnce())
      .catch((err: unknown) => {
        this.stats.repairFailures++;
        this.stats.lastRepairError = String(err);
      });
  }

  private async repairOnce(): Promise<void> {
    const own = this.own;
    if (!own) return;
    const value = this.map.get(this.identity.peerId);
    const current = await this.verified(this.identity.peerId, value);
    if (this.map.get(this.identity.peerId) !== value) return; // changed meanwhile: a later check follows
    if (current && current.payload.updatedAt >= own.payload.updatedAt) {
      // Ours (maybe from another tab with the same identity): adopt it.
      this.own = value as SignedEntry<Profile>;
      return;
    }
    if (this.own === own) this.map.set(this.identity.peerId, own);
  }
}
