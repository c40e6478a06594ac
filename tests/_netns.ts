/**
 * Network namespaces for tests that cut real nodes apart with iptables
 * (root only): one namespace per node on a bridge of the test's own,
 * addresses in a subnet drawn from the test's pid and prefix, all removed at
 * the end.
 *
 * @module
 */

import { assert } from "@std/assert";
import { MAIN, PERMISSIONS } from "./_helpers.ts";

/** Runs a command; true when it succeeded. */
export async function sh(...args: string[]): Promise<boolean> {
  const out = await new Deno.Command(args[0]!, {
    args: args.slice(1),
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

/** Why namespaces cannot be used here, or undefined when they can. */
export async function namespacesUnavailable(): Promise<string | undefined> {
  const id = await new Deno.Command("id", { args: ["-u"], stdout: "piped" })
    .output();
  if (new TextDecoder().decode(id.stdout).trim() !== "0") {
    return "not root: network namespaces need root";
  }
  if (!await sh("ip", "-V")) return "no `ip` (iproute2)";
  if (!await sh("iptables", "-V")) return "no `iptables`";
  return undefined;
}

/** Nodes in namespaces of their own, on one bridge. */
export class NamespacedCluster {
  readonly ips: string[];
  readonly addresses: string[];
  readonly #tag: string;
  readonly #bridge: string;
  readonly #subnet: string;
  readonly #names: string[];
  readonly #dirs: string[] = [];
  readonly children: (Deno.ChildProcess | undefined)[];

  constructor(count: number, prefix: string) {
    this.#tag = `${prefix}${Deno.pid % 10_000}`;
    this.#bridge = `br${this.#tag}`;
    // Drawn from the pid and the prefix: two clusters of one test process
    // (files run in parallel) get subnets of their own.
    const salt = [...prefix].reduce((sum, c) => sum * 31 + c.charCodeAt(0), 0);
    this.#subnet = `10.${150 + ((Deno.pid + salt) % 100)}.${
      (Deno.pid >> 6) % 250
    }`;
    this.#names = Array.from({ length: count }, (_, i) => `${this.#tag}n${i}`);
    this.ips = this.#names.map((_, i) => `${this.#subnet}.${i + 1}`);
    this.addresses = this.ips.map((ip) => `${ip}:5878`);
    this.children = this.#names.map(() => undefined);
  }

  /** Makes the bridge and the namespaces. */
  async create(): Promise<void> {
    const br = this.#bridge;
    assert(await sh("ip", "link", "add", br, "type", "bridge"));
    assert(await sh("ip", "addr", "add", `${this.#subnet}.254/24`, "dev", br));
    assert(await sh("ip", "link", "set", br, "up"));
    for (const [i, ns] of this.#names.entries()) {
      const host = `${this.#tag}h${i}`;
      const peer = `${this.#tag}p${i}`;
      assert(await sh("ip", "netns", "add", ns));
      assert(
        await sh(
          "ip",
          "link",
          "add",
          host,
          "type",
          "veth",
          "peer",
          "name",
          peer,
        ),
      );
      assert(await sh("ip", "link", "set", host, "master", br, "up"));
      assert(await sh("ip", "link", "set", peer, "netns", ns));
      assert(
        await sh(
          "ip",
          "-n",
          ns,
          "addr",
          "add",
          `${this.ips[i]}/24`,
          "dev",
          peer,
        ),
      );
      assert(await sh("ip", "-n", ns, "link", "set", peer, "up"));
      assert(await sh("ip", "-n", ns, "link", "set", "lo", "up"));
    }
  }

  /** Starts node `i` in its namespace with `flags` after the defaults. */
  start(i: number, flags: string[]): void {
    const dir = Deno.makeTempDirSync({ prefix: "kvdb-ns-" });
    this.#dirs.push(dir);
    // `ip netns exec` execs the runtime: the child's pid is the node's.
    this.children[i] = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        this.#names[i]!,
        Deno.execPath(),
        "run",
        ...PERMISSIONS,
        MAIN,
        "node",
        "-H",
        this.ips[i]!,
        "-P",
        "5878",
        "-C",
        this.addresses.join(","),
        "--data-dir",
        dir,
        ...flags,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
  }

  /** Node `i` drops every packet to and from the nodes `others`. */
  async cut(i: number, others: readonly number[]): Promise<void> {
    for (const o of others) {
      for (const [chain, dir] of [["INPUT", "-s"], ["OUTPUT", "-d"]]) {
        assert(
          await sh(
            "ip",
            "netns",
            "exec",
            this.#names[i]!,
            "iptables",
            "-A",
            chain!,
            dir!,
            this.ips[o]!,
            "-j",
            "DROP",
          ),
        );
      }
    }
  }

  /** Every cut healed. */
  async heal(): Promise<void> {
    for (const ns of this.#names) {
      assert(await sh("ip", "netns", "exec", ns, "iptables", "-F"));
    }
  }

  /** Sends `signal` to node `i`. */
  signal(i: number, signal: Deno.Signal): void {
    this.children[i]!.kill(signal);
  }

  /** Kills every node and removes the namespaces, bridge and data. */
  async destroy(): Promise<void> {
    for (const child of this.children) {
      if (child === undefined) continue;
      try {
        child.kill("SIGCONT");
        child.kill("SIGKILL");
      } catch {
        // exited already
      }
      await child.status;
    }
    for (const ns of this.#names) await sh("ip", "netns", "del", ns);
    await sh("ip", "link", "del", this.#bridge);
    for (const d of this.#dirs) Deno.removeSync(d, { recursive: true });
  }
}
