// The emulator's 9p filesystem, which the guest mounts at /files (scripts/guest/rootfs/init):
// every emulator is made with it, since a saved state holds the device and a
// restore needs the same devices as the save.
export const GUEST_FILES_OPTIONS = { filesystem: {} } as const;

/** Where the guest sees the 9p filesystem. */
export const GUEST_FILES_DIR = "/files";
