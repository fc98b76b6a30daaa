export type { Quotas, ProviderRecord } from "./records.js";
export { DEFAULT_PROTOCOL, HUB_ACCOUNT, PROTOCOL_RE, Protocol, ProtocolIdS, ProviderRecordS, QuotasS, accountName, leafUserName } from "./records.js";
export type { AccountEntry, AccountsInput } from "./accounts.js";
export { providerPermissions, renderAccounts } from "./accounts.js";
export type { Versioned } from "./registry.js";
export { PROVIDERS_BUCKET, ProviderErrorCode, ProviderGate, ProviderRegistry, providerId } from "./registry.js";
export type { ProviderFiles, UserKey } from "./credentials.js";
export {
  createUserKey,
  ensureUserKey,
  newLeafPassword,
  nkeyFileAuthenticator,
  providerFiles,
  publicKeyOf,
  readLeafPassword,
  removeProviderFiles,
  renderLeafRemote,
  writeSecret,
} from "./credentials.js";
