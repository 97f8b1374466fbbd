/**
 * What the Redis storage asks of its runtime, read without importing a `node:` module at load:
 * random ids and SHA-1 digests from Web Crypto (a global in Node >= 20, Bun, Deno and browsers),
 * the host name from `node:os` only when a storage is made. So `purgatory`, which exports
 * `RedisStorage`, loads in browsers and edge workers, where only the in-memory storage works.
 * @module
 */

/** `bytes` random bytes from Web Crypto. */
function randomBytes(bytes: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(bytes));
}

/** `bytes` random bytes as base64url (no padding), as `randomBytes(bytes).toString("base64url")` gives it. */
export function randomBase64url(bytes: number): string {
  return btoa(String.fromCharCode(...randomBytes(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  return Array.from(randomBytes(bytes), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The SHA-1 of `text` (UTF-8) as lowercase hex, as Redis names a script. */
export async function sha1Hex(text: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The shape of `node:os` used here. */
interface OsModule {
  hostname(): string;
}

/**
 * This host's name (`os.hostname()`), read through `process.getBuiltinModule` (Node >= 20.16,
 * Bun, Deno) rather than a static import; `undefined` where the runtime has no `node:os`.
 */
export function hostName(): string | undefined {
  const runtime = globalThis.process as { getBuiltinModule?: (id: string) => unknown } | undefined;
  const os = runtime?.getBuiltinModule?.("node:os") as OsModule | undefined;
  return os?.hostname();
}

/**
 * The default `processName`, `"<hostname>:<pid>"`. Where the host name cannot be read (Node
 * before 20.16, a browser), a random name stands in for it, so that two processes never share a
 * name by accident (a shared name counts as one process).
 */
export function defaultProcessName(): string {
  return `${hostName() ?? `host-${randomHex(6)}`}:${globalThis.process?.pid ?? 0}`;
}
