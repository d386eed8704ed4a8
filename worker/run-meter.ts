// How much the hosted VM has run: instructions executed and time since it started.
import type { V86 } from "v86";

const COUNTER_SAMPLE_MS = 1000;

export class RunMeter {
  private instructions = 0;
  private lastCounter = 0;
  private startedAtMs = 0;
  /** Samples the counter often enough that no wrap of it is missed; ended by `stop`. */
  private sampleTimer: ReturnType<typeof setInterval> | null = null;

  /** Starts counting the emulator's instructions from now. */
  start(emulator: V86): void {
    this.lastCounter = emulator.get_instruction_counter() >>> 0;
    this.sampleTimer = setInterval(() => this.sample(emulator), COUNTER_SAMPLE_MS);
    this.startedAtMs = performance.now();
  }

  /** Adds up the 32-bit instruction counter's deltas (it wraps every few seconds). */
  sample(emulator: V86 | null): void {
    if (!emulator) return;
    const now = emulator.get_instruction_counter() >>> 0;
    this.instructions += (now - this.lastCounter + 2 ** 32) % 2 ** 32;
    this.lastCounter = now;
  }

  get instructionCount(): number {
    return this.instructions;
  }

  get uptimeMs(): number {
    return this.startedAtMs ? performance.now() - this.startedAtMs : 0;
  }

  /** Stops sampling; the counts so far stay. */
  stop(): void {
    if (this.sampleTimer !== null) clearInterval(this.sampleTimer);
    this.sampleTimer = null;
  }
}
