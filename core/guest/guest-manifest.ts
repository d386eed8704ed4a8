// The guest image's manifest (public/guest/manifest.json): which files make up
// the image, their hashes, and how the saved state was made. Parsed at the edge.

import { isCount, isMatch, isObject, SHA256_PATTERN } from "../util/guards.ts";

export interface GuestFile {
  path: string;
  sha256: string;
  bytes: number;
}

export interface GuestStateFile extends GuestFile {
  encoding: "gzip";
  rawBytes: number;
  /**
   * The same state stored brotli-compressed, which the server sends with
   * `Content-Encoding: br` at `path`: what a browser fetches (about a fifth
   * smaller, unpacked natively as it arrives). `rawSha256` is of the state as
   * unpacked, `bytes` what goes over the wire.
   */
  transport?: { path: string; encoding: "br"; rawSha256: string; bytes: number };
}

export interface GuestPackage {
  name: string;
  version: string;
  architecture: string;
  source: string;
  debSha256: string;
  licence: string;
}

/**
 * A root filesystem loaded on demand over v86's 9p (the Debian guest): v86's
 * index of every file, and the folder of their contents, each named by the
 * SHA-256 of what it holds, zstd-compressed (`<sha256>.zst`).
 */
export interface GuestFilesystem {
  index: GuestFile;
  filesDir: string;
  /** Bytes of all the files' contents, unpacked. */
  contentBytes: number;
}

/** What a VM whose root is a 9p filesystem may write beyond its image's files (held in its host's memory). */
export const ROOT_DISK_EXTRA_BYTES = 256 * 1024 * 1024;

/** The whole disk such a VM may hold: its image's files and what it writes. */
export function rootDiskBytes(fs: GuestFilesystem): number {
  return fs.contentBytes + ROOT_DISK_EXTRA_BYTES;
}

export interface GuestManifest {
  schema: 1;
  imageId: string;
  v86Version: string;
  memorySizeBytes: number;
  cmdline: string;
  files: {
    bios: GuestFile;
    vgaBios: GuestFile;
    bzimage: GuestFile;
    initrd: GuestFile;
    state: GuestStateFile;
  };
  /** The guest's root over 9p, when it is not all in the initrd. */
  filesystem?: GuestFilesystem;
  /** What the console showed when the state was saved, so a fresh VM starts with its prompt. */
  consoleTranscript: string;
  packages: GuestPackage[];
  measured: { coldBootMs: number; saveStateMs: number };
}

export class ManifestError extends Error {}

function need<T>(ok: boolean, value: T, what: string): T {
  if (!ok) throw new ManifestError(`guest manifest: ${what}`);
  return value;
}

const isSha256 = (v: unknown): v is string => isMatch(v, SHA256_PATTERN);
const isText = (v: unknown): v is string => typeof v === "string" && v.length > 0;

function parseFile(v: unknown, name: string): GuestFile {
  need(isObject(v), null, `files.${name} is missing`);
  const o = v as Record<string, unknown>;
  const path = need(
    isText(o.path) && !/(^\/|\.\.)/.test(o.path as string),
    o.path as string,
    `files.${name}.path`,
  );
  return {
    path,
    sha256: need(isSha256(o.sha256), o.sha256 as string, `files.${name}.sha256`),
    bytes: need(isCount(o.bytes), o.bytes as number, `files.${name}.bytes`),
  };
}

function parseFilesystem(v: unknown): GuestFilesystem {
  need(isObject(v), null, "filesystem");
  const o = v as Record<string, unknown>;
  const filesDir = need(
    isText(o.filesDir) && /^[A-Za-z0-9_-]+\/$/.test(o.filesDir as string),
    o.filesDir as string,
    "filesystem.filesDir",
  );
  return {
    index: parseFile(o.index, "filesystem.index"),
    filesDir,
    contentBytes: need(isCount(o.contentBytes), o.contentBytes as number, "filesystem.contentBytes"),
  };
}

function parseTransport(v: unknown): NonNullable<GuestStateFile["transport"]> {
  need(isObject(v), null, "files.state.transport");
  const o = v as Record<string, unknown>;
  const file = parseFile({ path: o.path, sha256: o.rawSha256, bytes: o.bytes }, "state.transport");
  need(o.encoding === "br", null, "files.state.transport.encoding");
  return { path: file.path, encoding: "br", rawSha256: file.sha256, bytes: file.bytes };
}

export function parseGuestManifest(input: unknown): GuestManifest {
  need(isObject(input), null, "not an object");
  const m = input as Record<string, unknown>;
  need(m.schema === 1, null, `unsupported schema ${String(m.schema)}`);
  need(isObject(m.files), null, "files is missing");
  const files = m.files as Record<string, unknown>;
  const state = files.state as Record<string, unknown> | undefined;
  need(isObject(state) && state.encoding === "gzip" && isCount(state.rawBytes), null, "files.state");
  const packages = need(Array.isArray(m.packages), m.packages as unknown[], "packages");
  const measured = need(isObject(m.measured), m.measured as Record<string, unknown>, "measured");
  return {
    schema: 1,
    imageId: need(isText(m.imageId), m.imageId as string, "imageId"),
    v86Version: need(isText(m.v86Version), m.v86Version as string, "v86Version"),
    memorySizeBytes: need(isCount(m.memorySizeBytes), m.memorySizeBytes as number, "memorySizeBytes"),
    cmdline: need(isText(m.cmdline), m.cmdline as string, "cmdline"),
    files: {
      bios: parseFile(files.bios, "bios"),
      vgaBios: parseFile(files.vgaBios, "vgaBios"),
      bzimage: parseFile(files.bzimage, "bzimage"),
      initrd: parseFile(files.initrd, "initrd"),
      state: {
        ...parseFile(files.state, "state"),
        encoding: "gzip",
        rawBytes: state?.rawBytes as number,
        ...(state?.transport !== undefined && { transport: parseTransport(state.transport) }),
      },
    },
    ...(m.filesystem !== undefined && { filesystem: parseFilesystem(m.filesystem) }),
    consoleTranscript: need(
      typeof m.consoleTranscript === "string",
      m.consoleTranscript as string,
      "consoleTranscript",
    ),
    packages: packages.map((p, i) => {
      need(isObject(p), null, `packages[${i}]`);
      const o = p as Record<string, unknown>;
      for (const key of ["name", "version", "architecture", "source", "licence"]) {
        need(isText(o[key]), null, `packages[${i}].${key}`);
      }
      need(isSha256(o.debSha256), null, `packages[${i}].debSha256`);
      return o as unknown as GuestPackage;
    }),
    measured: {
      coldBootMs: need(isCount(measured.coldBootMs), measured.coldBootMs as number, "measured.coldBootMs"),
      saveStateMs: need(
        isCount(measured.saveStateMs),
        measured.saveStateMs as number,
        "measured.saveStateMs",
      ),
    },
  };
}

/**
 * What a VM host needs to boot or restore this image (worker/api.ts GuestSource):
 * each file where `urlOf` says it is, with the sums to check it by.
 */
export function guestSourceOf(m: GuestManifest, urlOf: (file: GuestFile) => string, wasmUrl: string) {
  const f = m.files;
  return {
    wasmUrl,
    memorySizeBytes: m.memorySizeBytes,
    cold: {
      biosUrl: urlOf(f.bios),
      vgaBiosUrl: urlOf(f.vgaBios),
      bzimageUrl: urlOf(f.bzimage),
      initrdUrl: urlOf(f.initrd),
      cmdline: m.cmdline,
      sha256: {
        bios: f.bios.sha256,
        vgaBios: f.vgaBios.sha256,
        bzimage: f.bzimage.sha256,
        initrd: f.initrd.sha256,
      },
      expectedBootMs: m.measured.coldBootMs,
    },
  };
}
