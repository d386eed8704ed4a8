// How an error reads in the UI and in status lines: its message when it has one.

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
