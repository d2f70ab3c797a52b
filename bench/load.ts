// A small closed-loop HTTP load generator (used when wrk is not installed): CONC connections each
// sending the next request as soon as the last answer arrives, for SECONDS. Prints JSON.
export {};

const [url, seconds = "3", conc = "32", headersJson = "{}"] = process.argv.slice(2);
const headers = JSON.parse(headersJson) as Record<string, string>;
const end = performance.now() + Number(seconds) * 1000;
let requests = 0;
let errors = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: Number(conc) }, async () => {
    while (performance.now() < end) {
      try {
        const r = await fetch(url!, { headers });
        await r.arrayBuffer();
        requests++;
      } catch {
        errors++;
      }
    }
  }),
);
console.log(JSON.stringify({ requests, errors, seconds: (performance.now() - t0) / 1000 }));
