/**
 * Turns the VMM's return codes (negative errno) and last-error text into
 * JoeyErrors with a kind that fits the errno.
 * @module
 */
import { type ErrorKind, JoeyError } from "../../errors.ts";

const KINDS: Record<number, ErrorKind> = {
  2: "NotFound", // ENOENT
  7: "InvalidArgument", // E2BIG
  8: "InvalidArgument", // ENOEXEC
  11: "ResourceExhausted", // EAGAIN (a thread or pid limit)
  12: "ResourceExhausted", // ENOMEM
  13: "FailedPrecondition", // EACCES
  16: "FailedPrecondition", // EBUSY
  17: "AlreadyExists", // EEXIST
  22: "InvalidArgument", // EINVAL
  23: "ResourceExhausted", // ENFILE
  24: "ResourceExhausted", // EMFILE (RLIMIT_NOFILE)
  28: "ResourceExhausted", // ENOSPC
  95: "Unimplemented", // ENOTSUP
};

/** Decodes a NUL-terminated C string from buf. */
export function cString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(end < 0 ? buf : buf.subarray(0, end));
}

/** NUL-terminated UTF-8 for a `const char *` parameter. */
export function toCString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * Returns rc when it is not negative; throws a JoeyError naming `what` and
 * the VMM's message otherwise.
 */
export function unwrap(rc: number, what: string, message: () => string): number {
  if (rc >= 0) return rc;
  const text = message() || `errno ${-rc}`;
  throw new JoeyError(KINDS[-rc] ?? "Internal", `${what}: ${text}`);
}
