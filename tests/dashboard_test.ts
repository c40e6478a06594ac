/**
 * The dashboard in a real browser: headless Chromium (Debian's
 * `chromium`, driven by playwright-core) loads `GET /ui/` from a node of
 * a three-node cluster, without console errors, shows every member, and
 * shows a killed node as suspect or dead. The key browser lists keys and
 * shows a value with its replicas. With KVDB_SCREENSHOT=<file> it saves a
 * screenshot (docs/dashboard.png is made so). .ci/run installs chromium;
 * without it the test says so and is skipped.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { chromium } from "playwright-core";
import { KVClient } from "../client.ts";
import { startCluster, stopAll, waitFor } from "./_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const HAS_CHROMIUM = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!HAS_CHROMIUM) {
  console.error("chromium not found: the dashboard test is skipped");
}

Deno.test({
  name:
    "dashboard: loads without console errors, shows every member, marks a killed one",
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nodes = await startCluster(3, ["-R", "2", "--probe-interval", "100"]);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Without the background-networking flags Chromium keeps dialling
      // out, and this machine has no network but loopback. Playwright
      // gives it a new empty profile.
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const client = new KVClient({ nodes: [nodes[0]!.address] });
      for (let i = 0; i < 30; i++) {
        await client.set(`user:${i}`, { name: `user ${i}`, n: i });
      }
      const page = await browser.newPage({
        viewport: { width: 1280, height: 1100 },
      });
      const errors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`http://${nodes[0]!.address}/ui`);
      for (const node of nodes) {
        await page.waitForSelector(
          `#members tr[data-address="${node.address}"][data-state="alive"]`,
          { timeout: 20_000 },
        );
      }
      assertEquals(await page.locator("#members tbody tr").count(), 3);
      assertMatch(await page.locator("#health").innerText(), /all up/);
      assertEquals(await page.locator("#ring div").count(), 3);
      // The key browser: list under a prefix, show a value and replicas.
      await page.fill("#prefix", "user:1");
      await page.click("#browse button");
      await page.waitForSelector("#keys li");
      await page.locator("#keys li", { hasText: "user:12" }).click();
      await page.waitForSelector("#key-detail pre");
      assertMatch(await page.locator("#key-detail pre").innerText(), /user 12/);
      assertEquals(await page.locator("#key-detail li").count(), 2);
      // Let the charts gather a few points under a little load.
      for (let i = 0; i < 40; i++) await client.get(`user:${i % 30}`);
      await page.waitForSelector("#ops-chart canvas");

      const shot = Deno.env.get("KVDB_SCREENSHOT");
      if (shot !== undefined) {
        await page.waitForTimeout(6000);
        await page.screenshot({ path: shot, fullPage: true });
      }

      await nodes[2]!.kill();
      await page.waitForSelector(
        `#members tr[data-address="${
          nodes[2]!.address
        }"]:is([data-state="suspect"],[data-state="dead"])`,
        { timeout: 20_000 },
      );
      // Only the killed node (a live one may be suspect for a moment on a
      // starved machine, with probes every 100 ms, and then refute).
      await waitFor(
        "the health line to count one member not up",
        async () => /1 not up/.test(await page.locator("#health").innerText()),
        20_000,
      );
      assertEquals(errors, [], `console errors: ${errors.join("; ")}`);
      client.close();
    } finally {
      await browser.close();
      await stopAll(nodes);
    }
  },
});

Deno.test("dashboard: the data needs the client token; the page's files do not", async () => {
  const token = "dashboard-token-0123456789abcdef";
  const nodes = await startCluster(1, ["--auth-token", token]);
  try {
    const base = `http://${nodes[0]!.address}`;
    const page = await fetch(`${base}/ui/`);
    assertEquals(page.status, 200);
    assertMatch(await page.text(), /<title>KVDB<\/title>/);
    const script = await fetch(`${base}/ui/vendor/uplot/uPlot.iife.min.js`);
    assertEquals(script.status, 200);
    await script.body?.cancel();
    const licence = await fetch(`${base}/ui/vendor/uplot/LICENSE`);
    assertMatch(await licence.text(), /MIT License/);
    const refused = await fetch(`${base}/ui/api/cluster`);
    assertEquals(refused.status, 401);
    await refused.body?.cancel();
    const data = await fetch(`${base}/ui/api/cluster`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assertEquals(data.status, 200);
    const view = await data.json();
    assertEquals(view.status.members.length, 1);
    assert(Math.abs(view.ring.primary[nodes[0]!.address] - 1) < 1e-9);
    const missing = await fetch(`${base}/ui/../../etc/passwd`);
    assert(missing.status === 404, String(missing.status));
    await missing.body?.cancel();
  } finally {
    await stopAll(nodes);
  }
});
