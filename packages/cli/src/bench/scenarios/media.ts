// Registered by the issue that owns this scenario.
export {};
