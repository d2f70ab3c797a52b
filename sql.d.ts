// Migrations are imported as text so that the compiled binary carries them (see server/db/migrations).
declare module "*.sql" {
  const text: string;
  export default text;
}
