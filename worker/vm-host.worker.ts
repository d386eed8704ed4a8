// Entry point of the VM host worker: one VM per worker, driven over comlink.
import * as Comlink from "comlink";
import { VmHost } from "./vm-host.ts";

Comlink.expose(new VmHost());
