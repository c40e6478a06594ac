/**
 * Which peer addresses a node will talk to. A cluster member's address
 * becomes the target of the node's own requests (probes, replica writes,
 * repair), so a hostile address in a gossip message or a `--join` would
 * turn the node into a proxy towards whatever it names: a cloud metadata
 * service (169.254.169.254 hands out credentials) is the classic target.
 * Link-local and metadata addresses are therefore refused wherever an
 * address enters the node, and before any call goes out, unless
 * `--allow-link-local` says otherwise.
 *
 * Names are checked as written, not as resolved: see docs/security.md.
 *
 * @module
 */

import {
  type MemberEntry,
  PeerError,
  type PeerRequest,
  type PeerResponse,
  type PeerTransport,
} from "../transport/mod.ts";

/** Host names of cloud metadata services (GCP, AWS, Alibaba, Tencent). */
const METADATA_NAMES: ReadonlySet<string> = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "instance-data",
  "instance-data.ec2.internal",
  "metadata.tencentyun.com",
]);

/** Metadata services outside the link-local ranges (Alibaba Cloud). */
const METADATA_IPV4: ReadonlySet<string> = new Set(["100.100.100.200"]);

/** The host of `"host:port"` or `"[v6]:port"` (or of a bare host). */
export function hostOf(address: string): string {
  if (address.startsWith("[")) {
    const end = address.indexOf("]");
    return end === -1 ? address : address.slice(0, end + 1);
  }
  const colon = address.lastIndexOf(":");
  return colon === -1 ? address : address.slice(0, colon);
}

function ipv4Forbidden(dotted: string): string | undefined {
  const octets = dotted.split(".").map(Number);
  if (octets[0] === 169 && octets[1] === 254) {
    return "a link-local address (169.254.0.0/16)";
  }
  if (METADATA_IPV4.has(dotted)) return "a cloud metadata address";
  return undefined;
}

/** The 8 groups of an IPv6 address as URL prints it (`[fe80::1]`). */
function ipv6Groups(bracketed: string): number[] | undefined {
  const text = bracketed.slice(1, -1);
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const part = (s: string) => s === "" ? [] : s.split(":");
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array(missing).fill("0"), ...tail].map((g) =>
    parseInt(g, 16)
  );
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)
    ? groups
    : undefined;
}

function ipv6Forbidden(bracketed: string): string | undefined {
  const g = ipv6Groups(bracketed);
  if (g === undefined) return "not a valid IPv6 address";
  if ((g[0]! & 0xffc0) === 0xfe80) return "a link-local address (fe80::/10)";
  // AWS's IPv6 metadata endpoint.
  if (
    g[0] === 0xfd00 && g[1] === 0x0ec2 &&
    g.slice(2, 7).every((x) => x === 0) && g[7] === 0x254
  ) return "a cloud metadata address";
  // An IPv4 address in IPv6 clothing: mapped (::ffff:a.b.c.d) or NAT64
  // (64:ff9b::a.b.c.d) reaches the same IPv4 host.
  const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b &&
    g.slice(2, 6).every((x) => x === 0);
  if (mapped || nat64) {
    return ipv4Forbidden(
      `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`,
    );
  }
  return undefined;
}

/**
 * Why the node must not talk to `host`, or `undefined` when it may. The
 * host is first normalized as `fetch` would (`2852039166` and
 * `0xa9.0xfe.0xa9.0xfe` are 169.254.169.254 to it), so other spellings of
 * a refused address are refused too.
 */
export function forbiddenHost(host: string): string | undefined {
  let hostname: string;
  try {
    hostname = new URL(`http://${host}/`).hostname;
  } catch {
    return "not a valid host";
  }
  // "metadata.google.internal." (a trailing dot) is the same name.
  const name = hostname.toLowerCase().replace(/\.$/, "");
  if (METADATA_NAMES.has(name)) return "a cloud metadata name";
  if (name.startsWith("[")) return ipv6Forbidden(name);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return ipv4Forbidden(name);
  return undefined;
}

/** Options of {@link AddressPolicy}. */
export interface AddressPolicyOptions {
  /** Allow link-local and metadata addresses (`--allow-link-local`). */
  allowLinkLocal?: boolean;
}

/** Decides which member addresses are acceptable. */
export class AddressPolicy {
  readonly allowLinkLocal: boolean;

  constructor(options: AddressPolicyOptions = {}) {
    this.allowLinkLocal = options.allowLinkLocal ?? false;
  }

  /** Why `address` ("host:port") is refused, or `undefined` if it is not. */
  refusal(address: string): string | undefined {
    if (this.allowLinkLocal) return undefined;
    const why = forbiddenHost(hostOf(address));
    return why === undefined
      ? undefined
      : `${address.slice(0, 80)} is ${why} (allow with --allow-link-local)`;
  }
}

/** Every member address a peer request names. */
export function addressesIn(request: PeerRequest): string[] {
  switch (request.kind) {
    case "write":
      return request.hintFor === undefined ? [] : [request.hintFor];
    case "read":
    case "scan":
    case "atomic":
    case "scan_cursor":
      return [];
    case "ping":
      return [request.from, ...request.members.map((m) => m[0])];
    case "ping_req":
      return [request.target];
    case "transfer":
    case "transfer_range":
      return [request.for];
    case "ae_buckets":
    case "ae_leaves":
    case "ae_entries":
    case "raft":
      return [request.from];
    case "kv":
      return [];
    default: {
      const unreachable: never = request;
      throw new Error(`unhandled peer request ${unreachable}`);
    }
  }
}

/**
 * A transport that never calls a refused address, and drops refused
 * addresses from the member tables peers answer with: whatever reached the
 * member table, the node does not send to it.
 */
export class GuardedTransport implements PeerTransport {
  readonly #inner: PeerTransport;
  readonly #policy: AddressPolicy;

  constructor(inner: PeerTransport, policy: AddressPolicy) {
    this.#inner = inner;
    this.#policy = policy;
  }

  async call(
    peer: string,
    request: PeerRequest,
    deadlineMs: number,
  ): Promise<PeerResponse> {
    const refusal = this.#policy.refusal(peer);
    if (refusal !== undefined) {
      throw new PeerError(peer, `refused by the address policy: ${refusal}`);
    }
    const response = await this.#inner.call(peer, request, deadlineMs);
    if (response.kind !== "ping") return response;
    const members: MemberEntry[] = response.members.filter((m) =>
      this.#policy.refusal(m[0]) === undefined
    );
    return members.length === response.members.length
      ? response
      : { ...response, members };
  }
}
