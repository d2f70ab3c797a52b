// Which methods the app serves at a path, from its own route table, so that a wrong method is
// answered 405 with `Allow` instead of a misleading 404.
export function methodsAtFactory(routes: () => { method: string; path: string }[]) {
  let table: { method: string; pattern: RegExp }[] | undefined;
  return (path: string): string[] => {
    table ??= routes().map((r) => ({ method: r.method.toUpperCase(), pattern: compile(r.path) }));
    const methods = new Set(table.filter((r) => r.pattern.test(path)).map((r) => r.method));
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods].sort();
  };
}

function compile(path: string): RegExp {
  const escaped = path
    .split("/")
    .map((seg) => (seg.startsWith(":") ? "[^/]+" : seg === "*" ? ".*" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${escaped}/?$`);
}
