// relay/: how hosts behind NAT reach the server and clients reach them (SPEC §4).
// Offers nothing yet: the relay issue builds the host link (one WebSocket, many framed streams),
// the host directory and the replica-to-replica link here. The folder exists so that the layout
// of the monolith is fixed from the start.
export {};
