/**
 * The shell in a real pseudo-terminal: tmux runs `kvdb shell` against a
 * real node, send-keys types, capture-pane reads the screen. Line
 * editing, history across sessions, Ctrl-R, Tab completion and the grey
 * hint, as a person sees them; and piped input unchanged.
 *
 * tmux comes from Debian (.ci/run installs it); without it the test says
 * so and is skipped.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  canRun,
  freePort,
  MAIN,
  NodeProcess,
  PERMISSIONS,
  rpc,
  waitFor,
} from "./_helpers.ts";

const TMUX = await canRun("tmux", ["-V"]);
if (!TMUX) console.error("tmux not found: the terminal tests are skipped");

/** One tmux server of our own (`-L`), so no one else's sessions are touched. */
class Tmux {
  readonly socket = `kvdb-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;

  async run(...args: string[]): Promise<string> {
    const out = await new Deno.Command("tmux", {
      args: ["-L", this.socket, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      throw new Error(
        `tmux ${args[0]}: ${new TextDecoder().decode(out.stderr)}`,
      );
    }
    return text;
  }

  /** Starts the shell in a 120x30 terminal. */
  async start(port: number, env: Record<string, string>, extra: string[] = []) {
    const command = [
      Deno.execPath(),
      "run",
      ...PERMISSIONS,
      MAIN,
      "shell",
      "-P",
      String(port),
      ...extra,
    ].map((a) => `'${a}'`).join(" ");
    await this.run(
      "new-session",
      "-d",
      "-s",
      "kvdb",
      "-x",
      "120",
      "-y",
      "30",
      ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      command,
    );
    await this.waitFor("the prompt", (s) => /^>>/m.test(s));
  }

  keys(...keys: string[]): Promise<string> {
    return this.run("send-keys", "-t", "kvdb", ...keys);
  }

  /** Types `text` literally (no key names). */
  type(text: string): Promise<string> {
    return this.run("send-keys", "-t", "kvdb", "-l", text);
  }

  /** The screen's text, or with `escapes` its colours too. */
  screen(escapes = false): Promise<string> {
    return this.run(
      "capture-pane",
      "-t",
      "kvdb",
      "-p",
      ...(escapes ? ["-e"] : []),
    );
  }

  /** The last line that is not blank. */
  async lastLine(): Promise<string> {
    const lines = (await this.screen()).split("\n").filter((l) =>
      l.trim() !== ""
    );
    return lines.at(-1) ?? "";
  }

  async waitFor(what: string, check: (screen: string) => boolean) {
    let last = "";
    try {
      await waitFor(what, async () => check(last = await this.screen()));
    } catch (error) {
      throw new Error(`${(error as Error).message}; the screen:\n${last}`);
    }
  }

  async alive(): Promise<boolean> {
    try {
      await this.run("has-session", "-t", "kvdb");
      return true;
    } catch {
      return false;
    }
  }

  async kill(): Promise<void> {
    try {
      await this.run("kill-server");
    } catch {
      // already gone
    }
  }
}

Deno.test({
  name:
    "shell in a terminal: editing, history across sessions, Ctrl-R, Tab, hints",
  ignore: !TMUX,
  async fn() {
    const node = await new NodeProcess(freePort(), []).ready();
    const dir = await Deno.makeTempDir();
    const histfile = `${dir}/history`;
    const env = { KVDB_HISTFILE: histfile, NO_COLOR: "" };
    const tmux = new Tmux();
    try {
      await rpc(node.address, "set", ["abc", "one"]);
      await rpc(node.address, "set", ["acb", "two"]);
      await tmux.start(node.port, env);

      // get ab, Left, c, Enter reads key acb.
      await tmux.type("get ab");
      await tmux.keys("Left");
      await tmux.type("c");
      await tmux.keys("Enter");
      await tmux.waitFor("get acb's value", (s) => s.includes("get acb\ntwo"));

      // Up recalls the previous line; Ctrl-A, Ctrl-K edit it away.
      await tmux.keys("Up");
      await tmux.waitFor(
        "the recalled line",
        (s) => /\n>> get acb( \[default\])?\s*$/.test(s),
      );
      await tmux.keys("C-a", "C-k");
      await tmux.waitFor("an empty line", (s) => /\n>>\s*$/.test(s));

      // list_m + Tab completes to list_members.
      await tmux.type("list_m");
      await tmux.keys("Tab");
      await tmux.waitFor(
        "list_members",
        (s) => /\n>> list_members\s*$/.test(s),
      );
      await tmux.keys("Enter");
      await tmux.waitFor("the members", (s) => s.includes(node.address));

      // Tab after get completes keys from the node.
      await tmux.type("get a");
      await tmux.keys("Tab");
      await tmux.keys("Tab");
      await tmux.waitFor("both keys offered", (s) => /abc\s+acb/.test(s));
      await tmux.keys("C-u");

      // The grey hint of the arguments still to type.
      await tmux.type("get ");
      await tmux.waitFor("the hint", (s) => s.includes("get <key> [default]"));
      const coloured = await tmux.screen(true);
      assertStringIncludes(coloured, "\x1b[90m<key> [default]");
      await tmux.keys("C-u");

      // Ctrl-R finds the line with 'acb'; Enter runs it.
      await tmux.keys("C-r");
      await tmux.type("acb");
      await tmux.waitFor(
        "the search",
        (s) => s.includes("(reverse-i-search)'acb': get acb"),
      );
      await tmux.keys("Enter");
      await tmux.waitFor(
        "the found line run",
        (s) => s.split("\ntwo\n").length >= 3,
      );

      await tmux.type("exit");
      await tmux.keys("Enter");
      await waitFor("the shell to exit", async () => !(await tmux.alive()));
      const saved = Deno.readTextFileSync(histfile).split("\n");
      assertEquals(saved.slice(0, 3), ["get acb", "list_members", "get acb"]);
      assertEquals((Deno.statSync(histfile).mode ?? 0) & 0o777, 0o600);

      // A new shell recalls the last session's lines.
      await tmux.start(node.port, env);
      await tmux.keys("Up");
      await tmux.waitFor(
        "the last session's last line",
        (s) => /\n?>> exit\s*$/.test(s),
      );
      await tmux.keys("Up");
      await tmux.waitFor(
        "the line before it",
        (s) => /\n?>> get acb( \[default\])?\s*$/.test(s),
      );
      await tmux.keys("C-u", "C-d");
      await waitFor(
        "Ctrl-D to end the shell",
        async () => !(await tmux.alive()),
      );

      // --no-history: nothing recalled, nothing written.
      const before = Deno.readTextFileSync(histfile);
      await tmux.start(node.port, env, ["--no-history"]);
      await tmux.keys("Up");
      await tmux.type("ping");
      await tmux.keys("Enter");
      await tmux.waitFor("pong", (s) => s.includes("\npong"));
      assert(!(await tmux.screen()).includes("exit"));
      await tmux.keys("C-d");
      await waitFor("the shell to end", async () => !(await tmux.alive()));
      assertEquals(Deno.readTextFileSync(histfile), before);
    } finally {
      await tmux.kill();
      await node.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("shell with piped input: the seed's output, no history, no escape codes", async () => {
  const node = await new NodeProcess(freePort(), []).ready();
  const dir = await Deno.makeTempDir();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, MAIN, "shell", "-P", String(node.port)],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { KVDB_HISTFILE: `${dir}/history` },
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("set a 1\nget a\nexit;\n"));
    await writer.close();
    const out = await child.output();
    assertEquals(new TextDecoder().decode(out.stdout), ">> OK\n>> 1\n>> \n");
    assertEquals([...Deno.readDirSync(dir)], []);
  } finally {
    await node.kill();
    await Deno.remove(dir, { recursive: true });
  }
});
