// Subscription patterns over stream paths: `*` is one path segment, `**` any number of them
// (none included); anything else is literal, `%2A` being a literal star.
const segments = (p: string) => p.split("/").filter(Boolean);

export function globMatch(pattern: string, path: string): boolean {
  return match(segments(pattern), 0, segments(path), 0);
}

function match(p: string[], pi: number, s: string[], si: number): boolean {
  if (pi === p.length) return si === s.length;
  const seg = p[pi]!;
  if (seg === "**") {
    for (let k = si; k <= s.length; k++) if (match(p, pi + 1, s, k)) return true;
    return false;
  }
  if (si === s.length) return false;
  const literal = seg.replace(/%2a/gi, "*");
  return (seg === "*" || literal === s[si]) && match(p, pi + 1, s, si + 1);
}

/** Paths as the protocol's subscription bodies give them: no leading or trailing slash. */
export const relative = (p: string) => p.replace(/^\/+|\/+$/g, "");
