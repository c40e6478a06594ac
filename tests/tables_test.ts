/**
 * The docs' tables of functions, flags, shell commands and error codes are
 * the tables of src/api/function_table.ts, src/settings.ts and
 * src/errors.ts, rendered: `deno task docs` writes them, this test says
 * when they are behind.
 */

import { assertEquals } from "@std/assert";
import { PLACEMENTS, tableIn } from "../src/docs/tables.ts";

const root = new URL("../", import.meta.url);

for (const { file, name, table } of PLACEMENTS) {
  Deno.test(`docs: ${file}'s ${name} table is the one the code defines`, () => {
    const text = Deno.readTextFileSync(new URL(file, root));
    const found = tableIn(text, name);
    assertEquals(
      found,
      table(),
      `${file}: the ${name} table is behind; run 'deno task docs'`,
    );
  });
}
