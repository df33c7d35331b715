// The rules of the start-up handshake that are not frame layout: why a connection is refused
// (a stable code in every REJECT frame) and how long a connection may take to say who it is.

/**
 * Codes of a REJECT frame (`{ t: REJECT, code, reason }`). The refused rank's init fails with
 * ERR_INIT and a message that ends with the code in brackets.
 */
export const RejectCode = {
  /** The first frame was not a HELLO. */
  NOT_HELLO: "REJECT_NOT_HELLO",
  /** The HELLO did not carry this job's token. */
  TOKEN: "REJECT_TOKEN",
  /** The claimed rank is not a higher rank of this job, or the job size differs. */
  RANK: "REJECT_RANK",
  /** Another process already holds the claimed rank's slot. */
  DUPLICATE: "REJECT_DUPLICATE",
  /** A frame arrived before this side answered the HELLO. */
  PROTOCOL: "REJECT_PROTOCOL",
  /** The connecting process runs as another user. */
  USER: "REJECT_USER",
  /** The HELLO names a pid that is not the connecting process's (as the kernel reports it). */
  PID_MISMATCH: "REJECT_PID_MISMATCH",
  /** The connecting process is not the one the launcher started as the claimed rank. */
  NOT_LAUNCHED: "REJECT_NOT_LAUNCHED",
  /** The launcher recorded no pid for the claimed rank in time. */
  NO_PID_RECORD: "REJECT_NO_PID_RECORD",
  /** The kernel's credentials of the connecting process could not be read. */
  NO_PEER_CREDENTIALS: "REJECT_NO_PEER_CREDENTIALS",
} as const;

export type RejectCodeValue = (typeof RejectCode)[keyof typeof RejectCode];

/**
 * How long an accepted connection has to deliver its HELLO. A real rank sends it the moment it
 * connects (and reconnects if it is dropped before the answer), so this only bounds connections
 * that say nothing, or trickle bytes, and tie up a descriptor.
 */
export const HELLO_TIMEOUT_MS = 3000;

/** After a REJECT, how long the peer has to read it and hang up before the connection is destroyed. */
export const REJECT_LINGER_MS = 1000;

/** How long to wait for the launcher's pid record of a rank whose HELLO has arrived. */
export const PID_RECORD_WAIT_MS = 3000;
