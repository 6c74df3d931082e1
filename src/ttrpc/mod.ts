/**
 * ttrpc in TypeScript: framing, server, client and status codes, used for
 * both the containerd-facing shim server and the guest agent client.
 * @module
 */
export { type MethodHandler, type RequestContext, TtrpcServer } from "./server.ts";
export { type CallOptions, TtrpcClient } from "./client.ts";
export { Code, codeName, type Status, statusFromError, TtrpcError } from "./status.ts";
export { MAX_MESSAGE_LENGTH } from "./frame.ts";
