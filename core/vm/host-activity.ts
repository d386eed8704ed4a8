// What counts as a hosted guest's activity, for its checkpoints to follow: the
// bytes typed into its console and the bytes it writes back.
import type { SideChannel } from "../net/side-channel.ts";
import type { VmEngine } from "./engine.ts";

/** `engine`, calling `onActivity` after each input it is given. */
export function watchInput(engine: VmEngine, onActivity: () => void): VmEngine {
  return {
    start: (o) => engine.start(o),
    input: (bytes) => {
      engine.input(bytes);
      onActivity();
    },
    checkpoint: (key, context) => engine.checkpoint(key, context),
    transcript: () => engine.transcript(),
    setBudget: (pct) => engine.setBudget(pct),
    pause: () => engine.pause(),
    resume: () => engine.resume(),
    stats: () => engine.stats(),
    ...(engine.connect && { connect: (port: number, first?: Uint8Array) => engine.connect!(port, first) }),
    ...(engine.shellChannel && {
      shellChannel: (channel: SideChannel, fromByte: number, closed: () => void) =>
        engine.shellChannel!(channel, fromByte, closed),
    }),
    // What the guest's network brings in changes it as typing does.
    ...(engine.lan && {
      lan: (onPacket: (packet: Uint8Array) => void) => {
        const lan = engine.lan!(onPacket);
        return {
          deliver: (packet: Uint8Array) => {
            lan.deliver(packet);
            onActivity();
          },
          close: () => lan.close(),
        };
      },
    }),
    // A file put in /files changes the guest as typing does.
    ...(engine.files && {
      files: () => {
        const port = engine.files!();
        return (
          port && {
            ...port,
            fileUploadEnd: async (id: number, sha256: string) => {
              const name = await port.fileUploadEnd(id, sha256);
              onActivity();
              return name;
            },
          }
        );
      },
    }),
    stop: () => engine.stop(),
  };
}

/** `out`, calling `onActivity` after each output. */
export function watchOutput(out: (bytes: Uint8Array) => void, onActivity: () => void) {
  return (bytes: Uint8Array): void => {
    out(bytes);
    onActivity();
  };
}
