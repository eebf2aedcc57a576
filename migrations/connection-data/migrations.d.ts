// Types of drizzle-kit's generated migrations.js (its .sql files are bundled as text, see wrangler.toml "rules").
declare const migrations: {
  journal: { entries: { idx: number; when: number; tag: string; breakpoints: boolean }[] };
  migrations: Record<string, string>;
};
export default migrations;
