/**
 * gRPC status codes as ttrpc carries them, and their mapping to and from
 * joey's error kinds (containerd's errdefs mapping, PROTOCOLS.md §1).
 * @module
 */
import { type ErrorKind, errorKind, errorMessage, JoeyError } from "../errors.ts";

/** google.rpc.Code values. */
export const Code = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;

/** A status code number. */
export type CodeValue = (typeof Code)[keyof typeof Code];

const codeByKind: Record<ErrorKind, CodeValue> = {
  InvalidArgument: Code.InvalidArgument,
  NotFound: Code.NotFound,
  AlreadyExists: Code.AlreadyExists,
  FailedPrecondition: Code.FailedPrecondition,
  Unavailable: Code.Unavailable,
  Unimplemented: Code.Unimplemented,
  DeadlineExceeded: Code.DeadlineExceeded,
  Canceled: Code.Canceled,
  ResourceExhausted: Code.ResourceExhausted,
  OutOfRange: Code.OutOfRange,
  Internal: Code.Internal,
  Unknown: Code.Unknown,
};

const kindByCode = new Map<number, ErrorKind>(
  Object.entries(codeByKind).map(([kind, code]) => [code, kind as ErrorKind]),
);

/** The name of a code, e.g. 5 → "NotFound". */
export function codeName(code: number): string {
  return Object.entries(Code).find(([, v]) => v === code)?.[0] ?? `Code(${code})`;
}

/** A google.rpc.Status as decoded. */
export interface Status {
  code: number;
  message: string;
}

/** The status a thrown value becomes on the wire. */
export function statusFromError(err: unknown): Status {
  if (err instanceof TtrpcError) return { code: err.code, message: err.message };
  return { code: codeByKind[errorKind(err)], message: errorMessage(err) };
}

/** A non-OK status received from (or to be sent to) a peer. */
export class TtrpcError extends JoeyError {
  readonly code: number;
  constructor(code: number, message: string) {
    super(kindByCode.get(code) ?? "Unknown", message);
    this.name = "TtrpcError";
    this.code = code;
  }

  /** The error a status describes, naming the code in the message. */
  static fromStatus(status: Status): TtrpcError {
    return new TtrpcError(status.code, status.message);
  }
}
