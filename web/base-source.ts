// The image's state as a base that deltas (local saves, checkpoints) are against.
import type { BaseSource, StateSource } from "../worker/api.ts";

export function baseOf(image: Extract<StateSource, { kind: "url" }>): BaseSource {
  return {
    url: image.url,
    sha256: image.sha256,
    bytes: image.bytes,
    ...(image.brotli && { brotli: image.brotli }),
  };
}
