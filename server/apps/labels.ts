// An app's origin names its port, host and organization in one DNS label, `<port>--<host>--<org>`
// (`3000--devbox--acme.localhost:7420`), as Coder names workspace apps. A host name or org slug
// is used as it is when it fits a label — lowercase letters, digits and single dashes, at most 20
// characters — and otherwise stands in as 24 characters of its id's hash. Names that fit are
// never 24 long (nor contain "--"), so the two forms cannot collide and the label splits cleanly.

const FITS = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const MAX_NAME = 20;
const HASHED = 24;
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

function hashed(id: string): string {
  const digest = new Bun.CryptoHasher("sha256").update(id).digest();
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < HASHED) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** How a host (by name, else id) or an org (by slug, else id) appears in an app's label. */
export const labelPart = (name: string, id: string) => (name.length <= MAX_NAME && FITS.test(name) ? name : hashed(id));

export interface LabelParts {
  port: number;
  host: string;
  org: string;
}

export const appLabel = (port: number, host: { name: string; id: string }, org: { slug: string; id: string }) =>
  `${port}--${labelPart(host.name, host.id)}--${labelPart(org.slug, org.id)}`;

const LABEL = /^([1-9][0-9]{0,4})--([a-z0-9-]+)--([a-z0-9-]+)$/;

/** The parts of an app label, or null when it is not one. */
export function parseLabel(label: string): LabelParts | null {
  const m = LABEL.exec(label);
  if (!m || label.length > 63) return null;
  const port = Number(m[1]);
  const parts = [m[2]!, m[3]!];
  if (port > 65535 || parts.some((p) => p.includes("--") || !(p.length === HASHED || (p.length <= MAX_NAME && FITS.test(p))))) return null;
  return { port, host: parts[0]!, org: parts[1]! };
}
