// A stand-in for the VM engine in runtime tests: a tiny key-value "machine" whose
// state is sealed with the real VM key and context, so tampering and wrong keys
// fail exactly as they would with v86.

import { seal, unseal } from "../../core/crypto/vm-crypto.ts";
import type { VmEngine } from "../../core/vm/engine.ts";

export interface FakeMachine {
  files: Record<string, string>;
  running: boolean;
}

export const running = new Set<FakeMachine>();

export function fakeEngine(): VmEngine & { machine: FakeMachine } {
  const machine: FakeMachine = { files: {}, running: false };
  let onOutput: (bytes: Uint8Array) => void = () => {};
  let transcript = "";
  const out = (text: string) => {
    transcript += text;
    onOutput(new TextEncoder().encode(text));
  };
  return {
    machine,
    async start(options) {
      onOutput = options.onOutput;
      if (options.sealed) {
        const plain = await unseal(options.sealed.key, options.sealed.bytes, options.sealed.context);
        const restored = JSON.parse(new TextDecoder().decode(plain));
        machine.files = restored.files;
        transcript = restored.transcript;
      }
      machine.running = true;
      running.add(machine);
      out("fake$ ");
    },
    input(bytes) {
      // "set NAME VALUE\r" stores a file; "get NAME\r" prints it.
      const line = new TextDecoder().decode(bytes).trim();
      const [cmd, name, value] = line.split(" ");
      if (cmd === "set" && name) machine.files[name] = value ?? "";
      if (cmd === "get" && name) out(`${name}=${machine.files[name] ?? "(none)"}\r\n`);
      out("fake$ ");
    },
    async checkpoint(key, context) {
      const plain = new TextEncoder().encode(JSON.stringify({ files: machine.files, transcript }));
      return { sealed: await seal(key, plain, context), rawBytes: plain.length, saveMs: 1, packMs: 1 };
    },
    async transcript() {
      return transcript;
    },
    setBudget() {},
    async stats() {
      return { usedPct: 0, instructions: 0 };
    },
    async stop() {
      machine.running = false;
      running.delete(machine);
    },
  };
}
