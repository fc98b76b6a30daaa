import { connect } from "node:net";

const loopbackFor = (host: string): string => (host === "0.0.0.0" || host === "" ? "127.0.0.1" : host === "::" ? "::1" : host);

/** Host clients should dial for a server bound to `host`. */
export const dialHost = loopbackFor;

export function tcpProbe(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: loopbackFor(host), port });
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
