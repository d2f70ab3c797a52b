// What a host may answer, checked on the server before any of it reaches a client. A host is a
// machine Warren does not control: an answer is used only when it has exactly the shape of ours
// (else the client gets 502 bad_host_response), and a host's refusal is told in Warren's own
// words, chosen by its code from a known set — never the host's text.
import { z } from "zod";
import { LIMITS } from "../pty/protocol";
import type { Head } from "./codec";

export interface HostFailure {
  status: number;
  code: string;
  message: string;
}

/** What the server knows about the call, for the messages it words itself. */
export interface CallContext {
  port?: number;
}

export const BAD_ANSWER: HostFailure = { status: 502, code: "bad_host_response", message: "the host sent an answer Warren cannot use" };

const REFUSALS: Record<string, (c: CallContext) => Omit<HostFailure, "code">> = {
  not_found: () => ({ status: 404, message: "not found on this host" }),
  no_pty: () => ({ status: 501, message: "this host cannot run terminals: its warren has no PTY support on its platform" }),
  invalid_request: () => ({ status: 400, message: "the host refused the request: cwd must be an existing directory on the host" }),
  port_not_exposed: (c) => ({ status: 404, message: `port ${c.port} is not exposed by this host (start it with --expose ${c.port})` }),
  port_unreachable: (c) => ({ status: 502, message: `nothing answered on port ${c.port} of the host` }),
};

const refusal = z.object({ error: z.object({ code: z.string().max(64) }) });

/** A host's error answer (a HEAD whose body is `{error: {code}}`) in Warren's words. */
export function hostFailure(h: Head, c: CallContext = {}): HostFailure {
  const r = refusal.safeParse(h.body);
  const known = r.success && Object.hasOwn(REFUSALS, r.data.error.code) ? r.data.error.code : null;
  return known ? { code: known, ...REFUSALS[known]!(c) } : BAD_ANSWER;
}

const terminalInfo = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
  cmd: z.array(z.string().max(4096)).max(64),
  cols: z.number().int().min(1).max(LIMITS.maxCols),
  rows: z.number().int().min(1).max(LIMITS.maxRows),
  createdAt: z.iso.datetime(),
  createdBy: z.string().max(100),
  attached: z.number().int().min(0).max(1_000_000),
  offset: z.number().int().min(0),
  exit: z.object({ code: z.number().int().nullable(), signal: z.string().max(32).nullable() }).nullable(),
});

/** The body each terminal call answers with when it succeeds. */
export const TERMINAL_ANSWERS = {
  list: z.object({ terminals: z.array(terminalInfo).max(10_000) }),
  get: terminalInfo,
  create: terminalInfo,
  kill: terminalInfo,
} as const;

// RFC 9110 field names are tokens; values are visible characters, spaces and tabs — no CR, LF or
// NUL, so nothing a host sends can split a response or smuggle a header in.
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_FIELDS = 100;
const MAX_FIELD_BYTES = 64 * 1024;
/** Connection-level headers (RFC 9110 §7.6.1) and framing the server decides itself. */
const NOT_PASSED = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "content-length"]);

/** An upstream's response headers fit to pass on, or null when any is malformed or they are too many. */
export function responseHeaders(headers: [string, string][] | undefined): [string, string][] | null {
  const list = headers ?? [];
  if (list.length > MAX_FIELDS) return null;
  let size = 0;
  const out: [string, string][] = [];
  for (const [name, value] of list) {
    size += name.length + value.length;
    if (size > MAX_FIELD_BYTES || !FIELD_NAME.test(name) || !FIELD_VALUE.test(value)) return null;
    if (!NOT_PASSED.has(name.toLowerCase())) out.push([name, value]);
  }
  return out;
}

/** Statuses an upstream HTTP answer may have (1xx are the server's own business). */
export const validHttpStatus = (status: number) => status >= 200 && status <= 599;
