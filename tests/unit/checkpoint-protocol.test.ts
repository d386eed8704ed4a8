import { describe, expect, it } from "vitest";
import {
  checkpointMeta,
  encodeCheckpointMessage,
  parseCheckpointMessage,
  parseCheckpointMeta,
} from "../../core/vm/checkpoint-protocol.ts";

const vmId = "ab".repeat(16);
const sha256 = "cd".repeat(32);
const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

describe("checkpoint protocol", () => {
  it("round-trips fetch and missing", () => {
    for (const t of ["fetch", "missing"] as const) {
      const m = { t, vmId, epoch: 2, seq: 5 };
      expect(parseCheckpointMessage(encodeCheckpointMessage(m))).toEqual(m);
    }
  });

  it("parses hostile messages to null", () => {
    const bad = [
      "not json",
      "null",
      "[]",
      { t: "fetch", vmId: "../../etc", epoch: 1, seq: 1 },
      { t: "fetch", vmId, epoch: -1, seq: 1 },
      { t: "fetch", vmId, epoch: 1, seq: 1.5 },
      { t: "fetch", vmId, epoch: "1", seq: 1 },
      { t: "serve-everything", vmId, epoch: 1, seq: 1 },
      { t: "fetch", vmId, epoch: 1, seq: 1, pad: "x".repeat(2000) },
    ];
    for (const b of bad) expect(parseCheckpointMessage(enc(b)), JSON.stringify(b).slice(0, 60)).toBeNull();
  });

  it("reads a transfer's metadata as a checkpoint's only when every field is well formed", () => {
    const meta = checkpointMeta({ vmId, epoch: 1, seq: 3 }, sha256);
    expect(parseCheckpointMeta(JSON.parse(JSON.stringify(meta)))).toEqual(meta);
    expect(parseCheckpointMeta({ ...meta, purpose: "replica" })).toBeNull();
    expect(parseCheckpointMeta({ ...meta, sha256: "zz" })).toBeNull();
    expect(parseCheckpointMeta({ ...meta, epoch: undefined })).toBeNull();
    expect(parseCheckpointMeta({ ...meta, vmId: 7 })).toBeNull();
    expect(parseCheckpointMeta(null)).toBeNull();
    // Extra fields from a sender do not travel further.
    expect(parseCheckpointMeta({ ...meta, extra: { big: true } })).toEqual(meta);
  });
});
