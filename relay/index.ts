// relay/: how hosts behind NAT reach the server and clients reach them (SPEC §4, docs/relay.md).
//   codec      the relay.v1 frames and messages — the one codec, used by server and host agent
//   Mux        many credit-controlled streams over one WebSocket
export * as codec from "./codec";
export { Mux, Stream, RelayError, type Transport, type MuxOptions } from "./mux";
