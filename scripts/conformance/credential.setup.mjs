// Every request the suite makes (its own and its client library's, which reach for the global
// fetch when they send) carries the API key, unless a test set Authorization itself: the suite
// knows nothing of auth, and Warren answers nothing without it.
const authorization = `Bearer ${process.env.WARREN_CONFORMANCE_KEY}`;
const fetch = globalThis.fetch;
globalThis.fetch = (input, init = {}) => {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  if (!headers.has("authorization")) headers.set("authorization", authorization);
  return fetch(input, { ...init, headers });
};
