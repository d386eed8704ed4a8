// The emulator's 9p filesystem, which the guest mounts at /files (scripts/guest/rootfs/init):
// every emulator is made with it, since a saved state holds the device and a
// restore needs the same devices as the save.
export const GUEST_FILES_OPTIONS = { filesystem: {} } as const;

/** Where the guest sees the 9p filesystem. */
export const GUEST_FILES_DIR = "/files";

/**
 * Where /files is in the 9p filesystem, and what the filesystem may hold: all of
 * it is /files for the small guest; a guest whose root it is (the Debian image)
 * has /files as a folder in it, and the whole root counts.
 */
export interface GuestFilesLayout {
  /** The 9p path of the guest's /files, ending with "/". */
  dir: string;
  quotaBytes: number;
}
