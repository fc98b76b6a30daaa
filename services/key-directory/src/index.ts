export { startKeyDirectory } from "./service.js";
export { KEYS_BUCKET } from "./store.js";
