// One tab per owner manages placement and failover; the others only read and
// attach shells. The Web Locks API decides (tabs of one origin share locks), and
// when the leading tab closes, another takes over.
export interface Leadership {
  isLeader(): boolean;
  release(): void;
}

export function claimLeadership(name: string): Leadership {
  let leader = false;
  let release: () => void = () => {};
  if (!navigator.locks) {
    return { isLeader: () => true, release: () => {} };
  }
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  void navigator.locks
    .request(name, async () => {
      leader = true;
      await held;
      leader = false;
    })
    .catch(() => {});
  return { isLeader: () => leader, release: () => release() };
}
