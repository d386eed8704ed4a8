// One entry of the shared state: a value an author put under (space, key), with
// the author's own sequence number, signed by the author. Only the author can
// make an entry for its slots, so nobody can replace or remove another's; an
// older entry for a slot (a replay) loses to the newer one it already holds.
import { isCount, isObject, isShortText } from "../util/guards.ts";

export const STATE_KIND = "state/1";

/** The spaces of the shared state, each read by one part of the app. */
export const SPACES = ["profiles", "vms", "leases", "checkpoints", "credits", "web"] as const;
export type Space = (typeof SPACES)[number];

const SPACE_SET = new Set<string>(SPACES);
const KEY_CHARS = 128;

export interface StatePayload {
  space: Space;
  key: string;
  /** The author's counter: higher wins for a slot; an author's next entry is above all its others. */
  seq: number;
  /** What the author says; null removes the slot's value (a tombstone, kept so it cannot come back). */
  value: unknown;
}

export function parseStatePayload(v: unknown): StatePayload | null {
  if (!isObject(v) || typeof v.space !== "string" || !SPACE_SET.has(v.space)) return null;
  if (!isShortText(v.key, KEY_CHARS) || v.key.length === 0 || !isCount(v.seq) || v.seq < 1) return null;
  if (!("value" in v)) return null;
  return { space: v.space as Space, key: v.key, seq: v.seq, value: v.value };
}

export const slotOf = (space: Space, key: string) => `${space}/${key}`;
