/**
 * A real Prometheus (Debian's `prometheus`, on 127.0.0.1 with a temporary
 * config and data directory) scrapes a three-node cluster under a light
 * load; its HTTP query API then says every target is up and that
 * `rate()` of the request counter and `histogram_quantile()` over the
 * latency histogram answer. .ci/run installs prometheus; without it the
 * test says so and is skipped.
 */

import { assert, assertEquals } from "@std/assert";
import { KVClient } from "../client.ts";
import {
  canRun,
  freePort,
  startCluster,
  stopAll,
  waitFor,
} from "./_helpers.ts";

const PROMETHEUS = await canRun("prometheus", ["--version"]);
if (!PROMETHEUS) {
  console.error("prometheus not found: the Prometheus test is skipped");
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(port: number, expr: string): Promise<Sample[]> {
  const url = `http://127.0.0.1:${port}/api/v1/query?query=${
    encodeURIComponent(expr)
  }`;
  const body = await (await fetch(url)).json();
  if (body.status !== "success") throw new Error(JSON.stringify(body));
  return body.data.result as Sample[];
}

Deno.test({
  name:
    "prometheus scrapes a three-node cluster: targets up, rate() and histogram_quantile() answer",
  ignore: !PROMETHEUS,
  async fn() {
    const nodes = await startCluster(3, ["-R", "3"]);
    const dir = await Deno.makeTempDir();
    const port = freePort();
    const config = [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: kvdb",
      "    static_configs:",
      `      - targets: [${nodes.map((n) => `'${n.address}'`).join(", ")}]`,
    ].join("\n");
    await Deno.writeTextFile(`${dir}/prometheus.yml`, config);
    const prometheus = new Deno.Command("prometheus", {
      args: [
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/data`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const client = new KVClient({ nodes: nodes.map((n) => n.address) });
    let load = true;
    // A light load on every node, until the queries have answered.
    const loader = (async () => {
      for (let i = 0; load; i++) {
        const node = new KVClient({ nodes: [nodes[i % 3]!.address] });
        await node.set(`k${i % 100}`, i);
        await node.get(`k${(i * 7) % 100}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      await waitFor(
        "every target up",
        async () => {
          const up = await query(port, "up");
          return up.length === 3 && up.every((s) => s.value[1] === "1");
        },
        60_000,
        500,
      );
      const up = await query(port, "up");
      assertEquals(
        up.map((s) => s.metric.instance).sort(),
        nodes.map((n) => n.address).sort(),
      );

      let rate: Sample[] = [];
      await waitFor(
        "rate() of the request counter",
        async () => {
          rate = await query(
            port,
            'sum by (instance) (rate(kvdb_requests_total{function="set"}[10s]))',
          );
          return rate.length === 3 && rate.every((s) => Number(s.value[1]) > 0);
        },
        60_000,
        500,
      );

      let p99: Sample[] = [];
      await waitFor(
        "histogram_quantile() over the latency histogram",
        async () => {
          p99 = await query(
            port,
            "histogram_quantile(0.99, sum by (le, function) (rate(kvdb_request_duration_seconds_bucket[10s])))",
          );
          const get = p99.find((s) => s.metric.function === "get");
          return get !== undefined && Number(get.value[1]) > 0;
        },
        60_000,
        500,
      );
      for (const sample of p99) {
        const seconds = Number(sample.value[1]);
        if (Number.isNaN(seconds)) continue; // a function with no recent calls
        assert(seconds > 0 && seconds <= 10, `p99 ${seconds}s`);
      }

      // What an operator alerts on is there too.
      const members = await query(port, 'kvdb_members{state="alive"}');
      assertEquals(members.map((s) => s.value[1]), ["3", "3", "3"]);
      const quorums = await query(
        port,
        'sum(kvdb_quorums_total{outcome="won"})',
      );
      assert(Number(quorums[0]?.value[1]) > 0);
    } finally {
      load = false;
      await loader.catch(() => {});
      client.close();
      prometheus.kill("SIGTERM");
      await prometheus.output();
      await stopAll(nodes);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
