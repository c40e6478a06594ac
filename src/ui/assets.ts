/**
 * The dashboard's files (`GET /ui`): plain HTML, CSS and JavaScript with
 * vendored uPlot, served by the node itself, no build step and no CDN.
 * Read from this folder on first use and kept.
 *
 * @module
 */

/** The files under `/ui/` and their content types. */
const FILES: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "vendor/uplot/uPlot.iife.min.js": "text/javascript; charset=utf-8",
  "vendor/uplot/uPlot.min.css": "text/css; charset=utf-8",
  "vendor/uplot/LICENSE": "text/plain; charset=utf-8",
};

const cache = new Map<string, Uint8Array<ArrayBuffer>>();

/**
 * The response for `path` under `/ui` (`""` and `"/"` are the page), or
 * undefined when there is no such file.
 */
export async function uiAsset(path: string): Promise<Response | undefined> {
  const name = path === "" || path === "/" ? "index.html" : path.slice(1);
  const type = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
  if (type === undefined) return undefined;
  let body = cache.get(name);
  if (body === undefined) {
    body = await Deno.readFile(new URL(name, import.meta.url));
    cache.set(name, body);
  }
  return new Response(body, {
    headers: {
      "content-type": type,
      "cache-control": "no-cache",
      // The page loads only what the node serves: nothing from elsewhere.
      "content-security-policy":
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
      "x-content-type-options": "nosniff",
    },
  });
}
