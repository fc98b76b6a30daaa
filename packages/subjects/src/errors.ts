import type { SubjectError, SubjectErrorCode } from "./types.js";

export const subjectError = (code: SubjectErrorCode, message: string): SubjectError => ({
  _tag: "SubjectError",
  code,
  message,
});

export const isSubjectError = (u: unknown): u is SubjectError =>
  typeof u === "object" &&
  u !== null &&
  (u as { _tag?: unknown })._tag === "SubjectError" &&
  typeof (u as { code?: unknown }).code === "string" &&
  typeof (u as { message?: unknown }).message === "string";
