// FastJs lives in @interlink/actor now (session-ratchet's and key-directory's stores use it too).
export { FastJs, JsErr, StoreError } from "@interlink/actor";
export type { PubAck, StoredMsg } from "@interlink/actor";
