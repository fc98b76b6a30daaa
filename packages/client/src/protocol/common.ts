import { s } from "@interlink/wire";
import type { Schema } from "@interlink/wire";
import * as E from "fp-ts/lib/Either.js";
import { wireError, WireErrorCode } from "@interlink/wire";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { parseDeviceId, parseProviderId, parseUserId } from "@interlink/subjects";

/** Subject-token rules applied inside payloads too, so ids are valid wherever they go next. */
const fromSubjects = <T>(name: string, parse: (u: unknown) => E.Either<{ message: string }, T>): Schema<T> =>
  s.custom(name, (u, path) => E.mapLeft((e: { message: string }) => wireError(WireErrorCode.Invalid, e.message, path))(parse(u)));

export const ProviderIdS: Schema<ProviderId> = fromSubjects("provider id", parseProviderId);
export const UserIdS: Schema<UserId> = fromSubjects("user id", parseUserId);
export const DeviceIdS: Schema<DeviceId> = fromSubjects("device id", parseDeviceId);

/** Message ids are chosen by the sender: opaque, URL-safe, bounded. */
export const MessageIdS = s.str({ min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ });

export const UserAddressS = s.object({ provider: ProviderIdS, user: UserIdS });
export type UserAddress = { readonly provider: ProviderId; readonly user: UserId };

export const DeviceAddressS = s.object({ provider: ProviderIdS, user: UserIdS, device: DeviceIdS });
export type DeviceAddress = UserAddress & { readonly device: DeviceId };

export const LocalDeviceS = s.object({ user: UserIdS, device: DeviceIdS });
export type LocalDevice = { readonly user: UserId; readonly device: DeviceId };

/** The name libsignal sees for a user: provider and user id are both restricted to [A-Za-z0-9_-]. */
export const signalName = (a: UserAddress): string => `${a.provider}/${a.user}`;

export const EmptyS = s.object({});
