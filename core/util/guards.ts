// Small checks for parsing untrusted values at the edge (messages, the shared
// document, files): each says what a value must be, and narrows its type.

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A whole number from 0 up (counts, sizes, times in ms). */
export const isCount = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** A string of at most `maxLength` UTF-16 units (names, labels, ids of no fixed form). */
export const isShortText = (v: unknown, maxLength: number): v is string =>
  typeof v === "string" && v.length <= maxLength;

/** A string matching `pattern`. */
export const isMatch = (v: unknown, pattern: RegExp): v is string => typeof v === "string" && pattern.test(v);

export const SHA256_PATTERN = /^[0-9a-f]{64}$/;
