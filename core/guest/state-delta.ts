// Delta codec for v86 saved states: a checkpoint is sent as what differs from the
// public base state every peer already has. Pure and environment-neutral (typed
// arrays only), so it runs in browsers, workers and Node alike.
//
// Both inputs are cut into 4 KiB blocks aligned to the start of each v86 state
// buffer (state-layout.ts). A block of the new state is then a run-merged
// reference to an identical base block, a run of zeros, or a literal; everything
// outside the blocks (header, info JSON, small buffers, tails) is literal.
//
// The parts: state-layout.ts (where the blocks lie), block-hash.ts (block and
// content hashes), state-delta-format.ts (the delta's header and ops),
// state-delta-base.ts (the indexed base), state-delta-encode.ts (the encoder),
// state-delta-apply.ts (the decoder). This module is the codec's public face.
export { applyDelta, deltaBaseFingerprint } from "./state-delta-apply.ts";
export { type BaseIndex, baseFingerprint, indexBase } from "./state-delta-base.ts";
export { encodeDelta } from "./state-delta-encode.ts";
export { DeltaError, MAX_STATE_BYTES } from "./state-delta-format.ts";
