/**
 * `kvdb node`: its flags come from the settings table (src/settings.ts);
 * the action turns them into a {@link NodeConfig}, starts the node and
 * wires signals (SIGINT/SIGTERM stop it, SIGHUP reloads secret files).
 *
 * @module
 */

import { type Command, Option } from "commander";
import {
  defaultDataDir,
  type NodeConfig,
  resolveSecrets,
  validateConfig,
} from "../config.ts";
import { readPem } from "../client_flags.ts";
import { type Secrets, startNode } from "../node.ts";
import { optionName, type SettingDef, SETTINGS } from "../settings.ts";
import { integer, member, members } from "./common.ts";

/** The commander option of one setting. */
export function settingOption(setting: SettingDef): Option {
  const flags = [setting.short, setting.flag].filter(Boolean).join(", ") +
    (setting.arg !== undefined ? ` ${setting.arg}` : "");
  const option = new Option(flags, setting.description);
  switch (setting.kind) {
    case "integer":
      option.argParser(integer(setting.min!, setting.max!));
      break;
    case "choice":
      option.choices(setting.choices!);
      break;
    case "members":
      option.argParser(members);
      break;
    case "member":
      option.argParser(member);
      break;
    case "string":
    case "file":
    case "switch":
      break;
  }
  if (setting.default !== undefined) option.default(setting.default);
  if (setting.conflicts !== undefined) option.conflicts(setting.conflicts);
  return option;
}

/** Flags that map to a NodeConfig field by hand, not one to one. */
const MAPPED_BY_HAND: ReadonlySet<string> = new Set(["sync", "cacheMb"]);

/** The NodeConfig the parsed flags `o` describe (not yet validated). */
export function configFrom(o: Record<string, unknown>): {
  config: NodeConfig;
  tokenSources: Parameters<typeof resolveSecrets>[1];
  secretSources: Parameters<typeof resolveSecrets>[1];
} {
  const given = (name: string) => o[name] !== undefined;
  const str = (name: string) => o[name] as string;
  // The files may hold several, one a line, and are read again on
  // SIGHUP: that is how tokens and secrets rotate.
  const tokenSources = {
    ...(given("authToken") ? { value: str("authToken") } : {}),
    ...(given("authTokenFile") ? { file: str("authTokenFile") } : {}),
    env: "KVDB_AUTH_TOKEN",
  };
  const secretSources = {
    ...(given("clusterSecret") ? { value: str("clusterSecret") } : {}),
    ...(given("clusterSecretFile") ? { file: str("clusterSecretFile") } : {}),
    env: "KVDB_CLUSTER_SECRET",
  };
  const mapped: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    if (setting.key === undefined || MAPPED_BY_HAND.has(setting.key)) continue;
    const value = o[optionName(setting.flag)];
    if (value !== undefined) mapped[setting.key] = value;
  }
  const authToken = resolveSecrets("auth-token", tokenSources);
  const clusterSecret = resolveSecrets("cluster-secret", secretSources);
  const host = str("host");
  const port = o.port as number;
  const config = {
    ...mapped,
    ...(o.memory ? { engine: "memory" } : {
      engine: "sqlite",
      dataDir: given("dataDir") ? str("dataDir") : defaultDataDir(host, port),
      sync: o.sync,
      cacheMb: o.cacheMb,
    }),
    ...(authToken !== undefined ? { authToken } : {}),
    ...(clusterSecret !== undefined ? { clusterSecret } : {}),
    ...(given("tlsCert")
      ? { tlsCert: readPem("--tls-cert", str("tlsCert")) }
      : {}),
    ...(given("tlsKey") ? { tlsKey: readPem("--tls-key", str("tlsKey")) } : {}),
    ...(given("caCert") ? { caCert: readPem("--ca-cert", str("caCert")) } : {}),
    allowLinkLocal: o.allowLinkLocal === true,
  } as unknown as NodeConfig;
  return { config, tokenSources, secretSources };
}

/** Adds `node` to `program`. */
export function registerNode(program: Command): void {
  const command = program.command("node").description("run a node");
  for (const setting of SETTINGS) command.addOption(settingOption(setting));
  command.action(async () => {
    const o = command.opts() as Record<string, unknown>;
    const { config, tokenSources, secretSources } = configFrom(o);
    validateConfig(config);
    const node = await startNode(config);
    const stop = () => node.shutdown();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    const tokenFile = o.authTokenFile !== undefined;
    const secretFile = o.clusterSecretFile !== undefined;
    if (tokenFile || secretFile) {
      Deno.addSignalListener("SIGHUP", () => {
        const reload = async () => {
          const secrets: Secrets = {};
          if (tokenFile) {
            secrets.authToken = resolveSecrets("auth-token", tokenSources);
          }
          if (secretFile) {
            secrets.clusterSecret = resolveSecrets(
              "cluster-secret",
              secretSources,
            );
          }
          return await node.rotateSecrets(secrets);
        };
        reload().then(
          (loaded) =>
            node.log("secrets.reloaded", { signal: "SIGHUP", loaded }),
          (error) =>
            node.log("secrets.not_reloaded", {
              signal: "SIGHUP",
              error,
              message: "the old ones stay",
            }, "error"),
        );
      });
    }
    await node.finished;
  });
}
