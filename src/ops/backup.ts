/**
 * Backups of a whole cluster: every live record (key, value, version,
 * expiry) as gzip-compressed JSON lines, written while paging through the
 * key space so that memory stays bounded by one page; and restores that
 * write them back keeping their versions.
 *
 * The file: a header line `{"kvdb_backup": 1, ...}`, then one record a
 * line, as `read_records` answers them.
 *
 * @module
 */

import type { KVClient, KVRecord } from "../../client.ts";

/** Keys read per page of a backup (one `list_keys` and one `read_records`). */
export const BACKUP_PAGE_KEYS = 1000;
/** Records written per `write_records` call of a restore. */
export const RESTORE_BATCH_RECORDS = 500;
/** The format's version, in the header line. */
export const BACKUP_FORMAT = 1;

/** How far a backup or restore has got. */
export interface Progress {
  records: number;
  /** Bytes written (backup, compressed) or read (restore, compressed). */
  bytes: number;
  /** Records the cluster holds, as its nodes count them, if known. */
  estimate?: number;
  /** The file's size (restore). */
  totalBytes?: number;
}

/** What a backup wrote. */
export interface BackupSummary {
  file: string;
  records: number;
  bytes: number;
}

/** What a restore did. */
export interface RestoreSummary {
  file: string;
  /** Records sent to the cluster. */
  records: number;
  /** Records skipped: expired since the backup was taken. */
  expired: number;
  bytes: number;
}

const encoder = new TextEncoder();

/**
 * Writes every live record of the cluster `client` talks to into `file`,
 * calling `progress` after each page.
 */
export async function backup(
  client: KVClient,
  file: string,
  options: {
    progress?: (p: Progress) => void;
    estimate?: number;
    now?: () => number;
  } = {},
): Promise<BackupSummary> {
  const now = options.now ?? Date.now;
  const gzip = new CompressionStream("gzip");
  const out = await Deno.open(file, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  let bytes = 0;
  const counting = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  const piped = gzip.readable.pipeThrough(counting).pipeTo(out.writable);
  const writer = gzip.writable.getWriter();
  let records = 0;
  try {
    await writer.write(encoder.encode(
      JSON.stringify({
        kvdb_backup: BACKUP_FORMAT,
        created_at_ms: now(),
      }) + "\n",
    ));
    let cursor: string | null = null;
    do {
      const page: { keys: string[]; cursor: string | null } = await client
        .listKeysPage({ limit: BACKUP_PAGE_KEYS, cursor });
      cursor = page.cursor;
      if (page.keys.length === 0) continue;
      const found = await client.readRecords(page.keys);
      const lines = found.filter((r): r is KVRecord => r !== null)
        .map((r) => JSON.stringify(r)).join("\n");
      if (lines !== "") {
        await writer.write(encoder.encode(lines + "\n"));
        records += lines.split("\n").length;
      }
      options.progress?.({
        records,
        bytes,
        ...(options.estimate !== undefined
          ? { estimate: options.estimate }
          : {}),
      });
    } while (cursor !== null);
    await writer.close();
    await piped;
  } catch (error) {
    await writer.abort(error).catch(() => {});
    await piped.catch(() => {});
    throw error;
  }
  return { file, records, bytes };
}

/** The lines of a gzip file, with how many compressed bytes were read. */
async function* gzipLines(
  file: string,
  read: (bytes: number) => void,
): AsyncGenerator<string> {
  const input = await Deno.open(file, { read: true });
  let bytes = 0;
  const counted = input.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        read(bytes);
        controller.enqueue(chunk);
      },
    }),
  );
  const gunzip = new DecompressionStream(
    "gzip",
  ) as unknown as ReadableWritablePair<
    Uint8Array,
    Uint8Array
  >;
  const text = counted.pipeThrough(gunzip)
    .pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const chunk of text) {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf("\n")) !== -1) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
    }
  }
  if (pending !== "") yield pending;
}

/** A backup file that cannot be read as one. */
export class BackupFormatError extends Error {
  override name = "BackupFormatError";
}

/**
 * Writes the records of backup `file` into the cluster `client` talks to,
 * keeping their versions; records that have expired since are skipped.
 */
export async function restore(
  client: KVClient,
  file: string,
  options: { progress?: (p: Progress) => void; now?: () => number } = {},
): Promise<RestoreSummary> {
  const now = options.now ?? Date.now;
  const totalBytes = (await Deno.stat(file)).size;
  let bytes = 0;
  let records = 0;
  let expired = 0;
  let batch: KVRecord[] = [];
  let line = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await client.writeRecords(batch);
    records += batch.length;
    batch = [];
    options.progress?.({ records, bytes, totalBytes });
  };
  try {
    for await (const text of gzipLines(file, (n) => bytes = n)) {
      line++;
      if (text.trim() === "") continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new BackupFormatError(
          `${file}: line ${line} is not JSON: not a KVDB backup, or damaged`,
        );
      }
      if (line === 1) {
        const header = parsed as { kvdb_backup?: unknown };
        if (header?.kvdb_backup !== BACKUP_FORMAT) {
          throw new BackupFormatError(
            `${file}: not a KVDB backup (format ${BACKUP_FORMAT})`,
          );
        }
        continue;
      }
      const record = parsed as KVRecord;
      if (record.expiresAtMs !== null && record.expiresAtMs <= now()) {
        expired++;
        continue;
      }
      batch.push(record);
      if (batch.length >= RESTORE_BATCH_RECORDS) await flush();
    }
  } catch (error) {
    if (error instanceof BackupFormatError) throw error;
    if (error instanceof TypeError || error instanceof SyntaxError) {
      throw new BackupFormatError(
        `${file}: cannot be read as a gzip file: ${(error as Error).message}`,
      );
    }
    throw error;
  }
  if (line === 0) throw new BackupFormatError(`${file}: empty`);
  await flush();
  return { file, records, expired, bytes: totalBytes };
}

/** A progress bar line: `[#####.....]  52%  5200 records, 310 KiB`. */
export function progressBar(
  verb: string,
  p: Progress,
): string {
  const fraction = p.totalBytes !== undefined && p.totalBytes > 0
    ? p.bytes / p.totalBytes
    : p.estimate !== undefined && p.estimate > 0
    ? Math.min(1, p.records / p.estimate)
    : undefined;
  const width = 30;
  const bar = fraction === undefined
    ? ""
    : `[${"#".repeat(Math.round(fraction * width)).padEnd(width, ".")}] ${
      (fraction * 100).toFixed(0).padStart(3)
    }%  `;
  return `${verb} ${bar}${p.records} records, ${
    (p.bytes / 1024).toFixed(0)
  } KiB`;
}
