import { describe, expect, it } from "vitest";
import { AutosavePolicy } from "../../core/guest/autosave.ts";

describe("AutosavePolicy", () => {
  const options = { idleMs: 2000, maxDelayMs: 15_000, periodicMs: 120_000 };

  it("saves once activity has been quiet for idleMs", () => {
    const p = new AutosavePolicy(0, options);
    p.noteActivity(1000);
    expect(p.dirty).toBe(true);
    expect(p.dueInMs(1500)).toBe(1500);
    p.noteActivity(2500);
    expect(p.dueInMs(2500)).toBe(2000);
  });

  it("does not let constant activity postpone a save past maxDelayMs", () => {
    const p = new AutosavePolicy(0, options);
    for (let t = 0; t <= 14_000; t += 500) p.noteActivity(t);
    expect(p.dueInMs(14_000)).toBe(1000);
  });

  it("keeps changes made during a save unsaved", () => {
    const p = new AutosavePolicy(0, options);
    p.noteActivity(1000);
    p.noteActivity(3500); // typed while the save started at 3000 was running
    p.noteSaved(3000);
    expect(p.dirty).toBe(true);
    p.noteSaved(6000);
    expect(p.dirty).toBe(false);
  });

  it("counts the wait of a change made during a save from that save's start", () => {
    const p = new AutosavePolicy(0, options);
    for (let t = 0; t <= 12_000; t += 500) p.noteActivity(t); // busy all along
    p.noteSaved(10_000); // a save began at 10 s, with changes after it
    for (let t = 12_500; t <= 20_000; t += 500) p.noteActivity(t);
    // Due 15 s after that save began (25 s), not at once (15 s after the first change it covered).
    expect(p.dueInMs(20_000)).toBe(2000);
  });

  it("by default keeps at most about a second of work unsaved", () => {
    const p = new AutosavePolicy(0);
    p.noteActivity(1000);
    expect(p.dueInMs(1000)).toBe(500);
    for (let t = 1000; t <= 10_000; t += 100) p.noteActivity(t);
    expect(p.dueInMs(3000)).toBe(1000); // at most 3 s while busy
    expect(new AutosavePolicy(0).dueInMs(0)).toBe(30_000);
  });

  it("saves periodically even without visible activity", () => {
    const p = new AutosavePolicy(0, options);
    expect(p.dirty).toBe(false);
    expect(p.dueInMs(100_000)).toBe(20_000);
    expect(p.dueInMs(130_000)).toBe(0);
  });
});
