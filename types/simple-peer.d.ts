// The part of @thaunknown/simple-peer (data channels only, "lite") this project uses.
declare module "@thaunknown/simple-peer/lite.js" {
  interface SimplePeerOptions {
    initiator?: boolean;
    config?: RTCConfiguration;
    channelConfig?: RTCDataChannelInit;
    trickle?: boolean;
    objectMode?: boolean;
  }
  export default class SimplePeer {
    constructor(options?: SimplePeerOptions);
    readonly connected: boolean;
    readonly destroyed: boolean;
    readonly bufferSize: number;
    signal(data: object): void;
    send(data: Uint8Array | string): void;
    destroy(error?: Error): void;
    on(event: "signal", handler: (data: object) => void): this;
    on(event: "connect" | "close", handler: () => void): this;
    on(event: "data", handler: (data: Uint8Array) => void): this;
    on(event: "error", handler: (error: Error & { code?: string }) => void): this;
    removeAllListeners(): this;
  }
}
