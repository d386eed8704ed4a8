// What an owner publishes of a VM on the web: a port of one of its VMs under a
// name, signed by the owner and kept in the owner's own slot of the shared state
// ("web" space, key `port/<vmId>/<port>`). Unpublishing signs the same record
// with `published: false`, so an old copy cannot bring it back.
import { isCount, isMatch, isObject } from "../util/guards.ts";

export const WEB_PORT_KIND = "web-port/1";

const VM_ID = /^[0-9a-f]{32}$/;
/** A readable alias: lower-case letters, digits and dashes, not at either end. */
export const WEB_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

export interface WebPort {
  vmId: string;
  port: number;
  /** A readable alias for the URL; unique ones may stand for the VM id. */
  name: string;
  published: boolean;
  /** Owner's clock, ms: the newest record of a port counts. */
  updatedAt: number;
}

export const webPortKey = (vmId: string, port: number) => `port/${vmId}/${port}`;

export function parseWebPort(v: unknown): WebPort | null {
  if (!isObject(v) || !isMatch(v.vmId, VM_ID) || !isMatch(v.name, WEB_NAME_PATTERN)) return null;
  if (!isCount(v.port) || v.port < 1 || v.port > 65535 || !isCount(v.updatedAt)) return null;
  if (typeof v.published !== "boolean") return null;
  return {
    vmId: v.vmId as string,
    port: v.port,
    name: v.name as string,
    published: v.published,
    updatedAt: v.updatedAt,
  };
}
