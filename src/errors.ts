/**
 * Domain errors shared by every layer. Runtimes and resources throw these;
 * only the service layer turns them into ttrpc status codes (see
 * src/ttrpc/status.ts), so every message names the thing it is about.
 * @module
 */

/** The error kinds containerd's errdefs know, plus the gRPC ones ttrpc needs. */
export type ErrorKind =
  | "InvalidArgument"
  | "NotFound"
  | "AlreadyExists"
  | "FailedPrecondition"
  | "Unavailable"
  | "Unimplemented"
  | "DeadlineExceeded"
  | "Canceled"
  | "ResourceExhausted"
  | "OutOfRange"
  | "Internal"
  | "Unknown";

/** An error with a kind that maps onto a gRPC status code. */
export class JoeyError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JoeyError";
    this.kind = kind;
  }
}

/** `new JoeyError("NotFound", …)` in short, for the common kinds. */
export const notFound = (what: string) => new JoeyError("NotFound", `${what}: not found`);
export const alreadyExists = (what: string) =>
  new JoeyError("AlreadyExists", `${what}: already exists`);
export const failedPrecondition = (message: string) => new JoeyError("FailedPrecondition", message);
/**
 * An operation the process's current state does not allow (start twice,
 * delete while running). containerd's runc shim reports these as plain
 * errors, which reach clients as code Unknown; joey answers the same way so
 * containerd and its clients see the reference behaviour.
 */
export const invalidState = (message: string) => new JoeyError("Unknown", message);
export const invalidArgument = (message: string) => new JoeyError("InvalidArgument", message);
export const unimplemented = (what: string) =>
  new JoeyError("Unimplemented", `${what}: not implemented`);

/** The kind of any thrown value (Deno's NotFound errors become NotFound). */
export function errorKind(err: unknown): ErrorKind {
  if (err instanceof JoeyError) return err.kind;
  if (err instanceof Deno.errors.NotFound) return "NotFound";
  if (err instanceof Deno.errors.AlreadyExists) return "AlreadyExists";
  if (err instanceof Deno.errors.TimedOut) return "DeadlineExceeded";
  return "Unknown";
}

/** The message of any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
