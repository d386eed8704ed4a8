// Reading a committed guest image folder (public/guest/, public/guest-debian/)
// the way its tests check it: every file in it, and what its SHA256SUMS says.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

/** Every file under `imageDir`, as paths relative to it. */
export function listImageFiles(imageDir: string, dir = imageDir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? listImageFiles(imageDir, full) : [relative(imageDir, full)];
  });
}

/** The image's SHA256SUMS, by path. */
export function readImageSums(imageDir: string): Map<string, string> {
  return new Map(
    readFileSync(join(imageDir, "SHA256SUMS"), "utf8")
      .trim()
      .split("\n")
      .map((line) => {
        const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
        if (!match) throw new Error(`bad SHA256SUMS line: ${line}`);
        return [match[2]!, match[1]!] as const;
      }),
  );
}
