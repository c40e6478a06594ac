import { assertEquals, assertThrows } from "@std/assert";
import {
  ConfigError,
  type NodeConfig,
  parseMember,
  resolveSecret,
  resolveSecrets,
  type SecretReader,
  validateConfig,
} from "./config.ts";

const TOKEN = "a-token-of-twenty-chars";

function reader(
  files: Record<string, string>,
  env: Record<string, string>,
): SecretReader {
  return {
    readTextFile(path) {
      if (!(path in files)) throw new Deno.errors.NotFound("no such file");
      return files[path]!;
    },
    env: (name) => env[name],
  };
}

Deno.test("resolveSecret() takes the flag, else the file, else the environment", () => {
  const io = reader({ "/s": `${TOKEN}-file\n` }, { KVDB_X: `${TOKEN}-env` });
  assertEquals(resolveSecret("x", { value: TOKEN, env: "KVDB_X" }, io), TOKEN);
  assertEquals(
    resolveSecret("x", { file: "/s", env: "KVDB_X" }, io),
    `${TOKEN}-file`,
    "a file's final newline is dropped",
  );
  assertEquals(resolveSecret("x", { env: "KVDB_X" }, io), `${TOKEN}-env`);
  assertEquals(resolveSecret("x", { env: "KVDB_NONE" }, io), undefined);
  assertEquals(
    resolveSecret("x", { env: "E" }, reader({}, { E: "" })),
    undefined,
    "an empty variable is unset",
  );
  assertThrows(
    () => resolveSecret("x", { value: TOKEN, file: "/s", env: "E" }, io),
    ConfigError,
    "both --x and --x-file",
  );
  assertThrows(
    () => resolveSecret("x", { file: "/missing", env: "E" }, io),
    ConfigError,
    "Cannot read --x-file '/missing'",
  );
});

const BASE: NodeConfig = {
  host: "127.0.0.1",
  port: 5878,
  cluster: [],
  replicationFactor: 1,
  vnodes: 8,
  requestDeadlineMs: 5_000,
  peerDeadlineMs: 2_000,
};

Deno.test("validateConfig() refuses unsafe security settings without echoing secrets", () => {
  const bad: [Partial<NodeConfig>, string][] = [
    [{ authToken: "short" }, "'authToken' must be at least 16"],
    [
      { clusterSecret: "with spaces in it, long" },
      "'clusterSecret' must be printable",
    ],
    [{ clusterId: "a b" }, "'clusterId' must be 1 to 64"],
    [{ tlsCert: "PEM" }, "TLS needs both"],
    [{ caCert: "PEM" }, "'caCert' is for calling peers over TLS"],
    [
      { authToken: TOKEN, cluster: ["10.0.0.2:5878"] },
      "needs a cluster secret",
    ],
    [{ authToken: TOKEN, join: "10.0.0.2:5878" }, "needs a cluster secret"],
    [{ cluster: ["169.254.169.254:80"] }, "link-local"],
    [{ join: "[fe80::1]:5878" }, "link-local"],
    [{ cluster: ["metadata.google.internal:80"] }, "metadata"],
    [{ concurrentRequestsMax: 0 }, "'concurrentRequestsMax' must be"],
    [{ bodyBytesMax: 10 }, "'bodyBytesMax' must be"],
  ];
  for (const [change, message] of bad) {
    const error = assertThrows(
      () => validateConfig({ ...BASE, ...change }),
      ConfigError,
      message,
    );
    assertEquals(error.message.includes(TOKEN), false);
  }
});

Deno.test("validateConfig() accepts a secured cluster and allowed link-local members", () => {
  validateConfig({
    ...BASE,
    cluster: ["10.0.0.2:5878"],
    authToken: TOKEN,
    clusterSecret: `${TOKEN}-secret`,
    clusterId: "prod-1",
  });
  validateConfig({ ...BASE, authToken: TOKEN });
  validateConfig({
    ...BASE,
    cluster: ["169.254.10.1:5878"],
    allowLinkLocal: true,
  });
});

Deno.test("resolveSecrets() reads one secret a line from a file, comments and blanks skipped", () => {
  const files: Record<string, string> = {
    "two": `# rotating\n${TOKEN}-next\n\n  ${TOKEN}  \r\n`,
    "none": "# nothing yet\n\n",
  };
  const io = {
    readTextFile: (path: string) => {
      if (path in files) return files[path]!;
      throw new Error("No such file");
    },
    env: (name: string) => name === "KVDB_X" ? `${TOKEN}-env` : undefined,
  };
  assertEquals(resolveSecrets("x", { file: "two", env: "KVDB_X" }, io), [
    `${TOKEN}-next`,
    TOKEN,
  ]);
  assertEquals(resolveSecrets("x", { value: TOKEN, env: "KVDB_X" }, io), [
    TOKEN,
  ]);
  assertEquals(resolveSecrets("x", { env: "KVDB_X" }, io), [`${TOKEN}-env`]);
  assertEquals(resolveSecrets("x", { env: "KVDB_Y" }, io), undefined);
  assertThrows(
    () => resolveSecrets("x", { file: "none", env: "KVDB_X" }, io),
    ConfigError,
    "holds no x",
  );
  assertThrows(
    () => resolveSecrets("x", { file: "gone", env: "KVDB_X" }, io),
    ConfigError,
    "Cannot read --x-file 'gone'",
  );
});

Deno.test("validateConfig() checks every token and secret of a list", () => {
  validateConfig({
    ...BASE,
    authToken: [TOKEN, `${TOKEN}-2`],
    clusterSecret: [`${TOKEN}-s`],
  });
  assertThrows(
    () => validateConfig({ ...BASE, authToken: [TOKEN, "short"] }),
    ConfigError,
    "'authToken' must be at least 16",
  );
  assertThrows(
    () => validateConfig({ ...BASE, clusterSecret: [] }),
    ConfigError,
    "'clusterSecret' is empty",
  );
});

Deno.test("validateConfig() checks the RESP port settings", () => {
  validateConfig({ ...BASE, respPort: 6379, respIdleTimeoutMs: 0 });
  const bad: [Partial<NodeConfig>, string][] = [
    [{ respPort: 70000 }, "'respPort' must be an integer in [0, 65535]"],
    [{ respPort: BASE.port }, "'respPort' must differ from 'port'"],
    [{ respClientsMax: 0 }, "'respClientsMax' must be an integer"],
    [{ respIdleTimeoutMs: -1 }, "'respIdleTimeoutMs' must be an integer"],
    [{ respPort: 6379, respHost: " " }, "'respHost' is empty"],
  ];
  for (const [change, message] of bad) {
    assertThrows(
      () => validateConfig({ ...BASE, ...change }),
      ConfigError,
      message,
    );
  }
  // The same port on another interface is fine.
  validateConfig({ ...BASE, respPort: BASE.port, respHost: "127.0.0.2" });
});

Deno.test("parseMember() takes host and host:port, and refuses what no peer call could reach", () => {
  assertEquals(parseMember("a"), "a:5878");
  assertEquals(parseMember(" 10.0.0.2:5879 "), "10.0.0.2:5879");
  assertEquals(parseMember("[::1]:1"), "[::1]:1");
  assertThrows(() => parseMember("a:99999"), ConfigError, "[1, 65535]");
  assertThrows(() => parseMember("a b"), ConfigError, "expected host");
  assertThrows(
    () => parseMember("999.1.1.1:5878"),
    ConfigError,
    "'999.1.1.1' is not a valid host",
  );
});

Deno.test("validateConfig() refuses --join naming the node itself", () => {
  assertThrows(
    () => validateConfig({ ...BASE, join: "127.0.0.1:5878" }),
    ConfigError,
    "'127.0.0.1:5878' is this node itself",
  );
  validateConfig({ ...BASE, join: "127.0.0.1:5879" });
});
