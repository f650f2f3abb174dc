import type { z } from 'zod';

/** A message that does not match its subject's schema; carries every field that was wrong. */
export class InvalidMessageError extends Error {
  override readonly name = 'InvalidMessageError';
  constructor(
    readonly subject: string,
    readonly issues: { field: string; reason: string }[],
  ) {
    super(`invalid message on ${subject}: ${issues.map((i) => `${i.field}: ${i.reason}`).join('; ')}`);
  }
}

/** Turns zod issues into `field: reason` pairs, with array indices written as `samples[3].value`. */
export function describeIssues(error: z.ZodError): { field: string; reason: string }[] {
  return error.issues.map((issue) => ({ field: fieldPath(issue.path) || '(message)', reason: issueReason(issue) }));
}

/** Why a value was refused: a record's bad key, which zod tells as "Invalid key in record", by the key's own rule. */
export function issueReason(issue: z.core.$ZodIssue): string {
  return issue.code === 'invalid_key' && issue.issues.length > 0 ? issue.issues.map((i) => i.message).join('; ') : issue.message;
}

/** `['samples', 3, 'value']` → `samples[3].value`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}
