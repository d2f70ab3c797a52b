// What the app's own route table tells: which methods it serves at a path (a wrong method is
// answered 405 with `Allow` instead of a misleading 404), and its routes' first segments.
export function methodsAtFactory(routes: () => { method: string; path: string }[]) {
  let table: { method: string; pattern: RegExp }[] | undefined;
  return (path: string): string[] => {
    table ??= routes().map((r) => ({ method: r.method.toUpperCase(), pattern: compile(r.path) }));
    const methods = new Set(table.filter((r) => r.pattern.test(path)).map((r) => r.method));
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods].sort();
  };
}

/** The first path segments of the app's routes (`api`, `pair`, `v1`…), computed once. */
export function firstSegmentsFactory(routes: () => { path: string }[]) {
  let set: Set<string> | undefined;
  return () => (set ??= new Set(routes().map((r) => r.path.split("/")[1] ?? "")));
}

function compile(path: string): RegExp {
  const escaped = path
    .split("/")
    .map((seg) => (seg.startsWith(":") ? "[^/]+" : seg === "*" ? ".*" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${escaped}/?$`);
}
