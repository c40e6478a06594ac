/**
 * `deno task docs`: writes the generated tables (src/docs/tables.ts) into
 * the docs, then formats them with `deno fmt`.
 *
 * @module
 */

import { PLACEMENTS, replaceTable } from "./tables.ts";

const root = new URL("../../", import.meta.url);

if (import.meta.main) {
  const files = new Set<string>();
  for (const { file, name, table } of PLACEMENTS) {
    const path = new URL(file, root);
    const text = Deno.readTextFileSync(path);
    Deno.writeTextFileSync(path, replaceTable(text, name, table()));
    files.add(path.pathname);
  }
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", ...files],
  }).output();
  if (!success) Deno.exit(1);
  console.log(`tables written: ${[...files].join(", ")}`);
}
