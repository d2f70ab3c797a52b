// The parser the metrics test scrapes with ships no types: what the test uses of it.
declare module "parse-prometheus-text-format" {
  export default function parse(text: string): {
    name: string;
    help: string;
    type: string;
    metrics: { labels?: Record<string, string>; value?: string; count?: string; sum?: string; buckets?: Record<string, string> }[];
  }[];
}
