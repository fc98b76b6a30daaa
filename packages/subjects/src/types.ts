export const Service = {
  Keys: "keys",
  Delivery: "delivery",
  Media: "media",
  Receipt: "receipt",
  Ratchet: "ratchet",
} as const;
export type Service = (typeof Service)[keyof typeof Service];

export type ProviderId = string & { readonly __brand: "ProviderId" };
export type UserId = string & { readonly __brand: "UserId" };
export type DeviceId = number & { readonly __brand: "DeviceId" };

export const SubjectErrorCode = {
  InvalidToken: "invalid_token",
  InvalidSubject: "invalid_subject",
} as const;
export type SubjectErrorCode = (typeof SubjectErrorCode)[keyof typeof SubjectErrorCode];

/**
 * `message` names the token kind and the rule it broke, never the offending value:
 * the value may be a user id, and these errors end up in logs and replies.
 */
export interface SubjectError {
  readonly _tag: "SubjectError";
  readonly code: SubjectErrorCode;
  readonly message: string;
}

export type ParsedSubject =
  | { readonly family: "request"; readonly service: Service; readonly op: string; readonly provider: ProviderId }
  | { readonly family: "event"; readonly service: Service; readonly event: string; readonly provider: ProviderId };
