/** Injected time source so tests can drive expiry, idle deactivation and rate limits. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };
