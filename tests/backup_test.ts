/**
 * Backup and restore between real three-node clusters: 10,000 keys, some
 * with TTLs, some deleted, some expired before the restore; the fresh
 * cluster gets the same live keys, values and expiry; restoring again, or
 * after a newer write, changes nothing.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { KVClient, type KVRecord } from "../client.ts";
import { runCli, startCluster, stopAll } from "./_helpers.ts";

const KEYS = 10_000;

/** Every live record of a cluster, by key. */
async function snapshot(client: KVClient): Promise<Map<string, KVRecord>> {
  const all = new Map<string, KVRecord>();
  let cursor: string | null = null;
  do {
    const page: { keys: string[]; cursor: string | null } = await client
      .listKeysPage({ limit: 1000, cursor });
    cursor = page.cursor;
    const records = await client.readRecords(page.keys);
    for (const r of records) if (r !== null) all.set(r.key, r);
  } while (cursor !== null);
  return all;
}

Deno.test("backup and restore: 10,000 keys with TTLs and deletes into a fresh cluster, twice", async () => {
  const source = await startCluster(3, ["-R", "2"]);
  let target: Awaited<ReturnType<typeof startCluster>> = [];
  const dir = await Deno.makeTempDir();
  const file = `${dir}/cluster.kvdb.gz`;
  try {
    const client = new KVClient({ nodes: source.map((n) => n.address) });
    for (let start = 0; start < KEYS; start += 1000) {
      const entries: Record<string, unknown> = {};
      for (let i = start; i < start + 1000; i++) {
        entries[`key:${String(i).padStart(5, "0")}`] = i % 3 === 0
          ? { n: i, tags: ["a", "b"] }
          : `value ${i}`;
      }
      await client.mset(entries);
    }
    // Some keys live for an hour; some are deleted.
    const hour: Record<string, unknown> = {};
    for (let i = 0; i < 500; i++) hour[`ttl:hour:${i}`] = i;
    await client.mset(hour, { ttl: 3600 });
    for (let i = 0; i < 200; i++) {
      await client.pop(`key:${String(i * 7).padStart(5, "0")}`);
    }
    const before = await snapshot(client);
    assertEquals(before.size, KEYS + 500 - 200);

    const at = ["-P", String(source[0]!.port)];
    const made = await runCli(["backup", file, "--json", ...at]);
    assertEquals(made.code, 0, made.stderr);
    const summary = JSON.parse(made.stdout);
    assertEquals(summary.records, before.size);
    assert(summary.bytes < 400_000, `compressed: ${summary.bytes} bytes`);
    assertMatch(made.stderr, /backup .*records/);

    // 100 records that were live when the backup was taken and have
    // expired since (as a backup restored a day later holds): written into
    // the file as the backup writes records, so no test waits on a clock.
    const lines = (await new Response(
      (await Deno.open(file)).readable.pipeThrough(
        new DecompressionStream("gzip"),
      ),
    ).text()).trimEnd().split("\n");
    const template = JSON.parse(lines[1]!);
    for (let i = 0; i < 100; i++) {
      lines.push(JSON.stringify({
        ...template,
        key: `ttl:brief:${i}`,
        value: i,
        expiresAtMs: Date.now() - 1000,
      }));
    }
    const gzipped = new Blob([lines.join("\n") + "\n"]).stream()
      .pipeThrough(new CompressionStream("gzip"));
    await Deno.writeFile(file, gzipped);

    target = await startCluster(3, ["-R", "2"]);
    const fresh = new KVClient({ nodes: target.map((n) => n.address) });
    const to = ["-P", String(target[1]!.port)];
    const restored = await runCli(["restore", file, ...to]);
    assertEquals(restored.code, 0, restored.stderr);
    assertMatch(
      restored.stdout,
      new RegExp(`restored ${KEYS + 500 - 200} records .*100 expired`),
    );

    const after = await snapshot(fresh);
    const live = [...before.values()];
    assertEquals(after.size, live.length);
    for (const record of live) {
      assertEquals(after.get(record.key), record, record.key);
    }
    const sampleTtl = after.get("ttl:hour:7")!;
    assert(sampleTtl.expiresAtMs! > Date.now() + 3_000_000);
    assertEquals(await fresh.get("key:00007"), null, "a deleted key");
    assertEquals(await fresh.get("ttl:brief:0"), null, "an expired record");

    // A newer write survives a second restore; nothing else changes.
    await fresh.set("key:00001", "newer");
    const again = await runCli(["restore", file, "--json", ...to]);
    assertEquals(again.code, 0, again.stderr);
    const twice = await snapshot(fresh);
    assertEquals(twice.size, after.size);
    for (const [key, record] of after) {
      if (key === "key:00001") continue;
      assertEquals(twice.get(key), record, key);
    }
    assertEquals(await fresh.get("key:00001"), "newer");
    client.close();
    fresh.close();
  } finally {
    await stopAll([...source, ...target]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("restore refuses a file that is not a backup, with exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/plain.txt`, "hello\n");
    const notGzip = await runCli(["restore", `${dir}/plain.txt`, "-P", "1"]);
    assertEquals(notGzip.code, 2, notGzip.stderr);
    assertMatch(
      notGzip.stderr,
      /cannot be read as a gzip file|not a KVDB backup/,
    );
    const missing = await runCli(["restore", `${dir}/none.gz`, "-P", "1"]);
    assertEquals(missing.code, 2);
    assertMatch(missing.stderr, /no such file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
