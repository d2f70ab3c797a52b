// Files imported as text so that `bun build --compile` carries them: SQL migrations
// (server/db/migrations) and the web pages and assets (server/web).
declare module "*.sql" {
  const text: string;
  export default text;
}
declare module "*.css" {
  const text: string;
  export default text;
}
/** Browser scripts: served as they are, never run on the server. */
declare module "*.client.js" {
  const text: string;
  export default text;
}
declare module "*.mjs" {
  const text: string;
  export default text;
}
/** The attach codec compiled for the browser (server/web/gen.ts). */
declare module "*.gen.js" {
  const text: string;
  export default text;
}
