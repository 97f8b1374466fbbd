/**
 * TLS for the throw-away Redis servers: a private certificate authority and a server certificate
 * for 127.0.0.1 and localhost, made with `openssl` in a temporary folder, and a `redis-server`
 * that takes TLS connections only (`rediss://`).
 *
 * @example
 * ```ts
 * const secure = await startTlsRedisServer();
 * const storage = new RedisStorage({ url: secure.server.url, redisOptions: { tls: { ca: secure.certs.ca } } });
 * await secure.stop(); // the server, then the certificates
 * ```
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startRedisServer, type RedisServer, type RedisServerOptions } from "./redis-server.js";

const run = promisify(execFile);

/** The files `makeTestCertificates` wrote, and the CAs' PEM text. */
export interface TestCertificates {
  readonly dir: string;
  /** The CA that signed the server's certificate. */
  readonly caFile: string;
  readonly ca: string;
  /** Another CA, which signed nothing: a client that trusts only it must refuse the server. */
  readonly otherCaFile: string;
  readonly otherCa: string;
  /** The server's certificate (subjectAltName IP:127.0.0.1 and DNS:localhost) and key. */
  readonly certFile: string;
  readonly keyFile: string;
  /** Removes the folder. */
  remove(): Promise<void>;
}

/** `openssl <args>` in `dir`; rejects with openssl's own words. */
async function openssl(dir: string, args: readonly string[]): Promise<void> {
  try {
    await run("openssl", args, { cwd: dir, timeout: 30_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args[0] ?? ""} failed: ${stderr.trim() || String(error)}`, { cause: error });
  }
}

/** A key (EC P-256: quick to make) and a self-signed CA certificate, valid for a day. */
async function makeCa(dir: string, name: string, subject: string): Promise<void> {
  await openssl(dir, [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "1", "-subj", subject],
  ]);
}

/** Makes a CA, a server certificate it signed, and an unrelated CA, in a new temporary folder. */
export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "purgatory-tls-"));
  try {
    await makeCa(dir, "ca", "/CN=purgatory test CA");
    await makeCa(dir, "other-ca", "/CN=purgatory unrelated CA");
    await openssl(dir, [
      ...["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
    ]);
    await writeFile(
      join(dir, "server.ext"),
      [
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "basicConstraints=CA:FALSE",
        "keyUsage=digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        "",
      ].join("\n"),
    );
    await openssl(dir, [
      ...["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"],
      ...["-out", "server.crt", "-days", "1", "-extfile", "server.ext"],
    ]);
    const caFile = join(dir, "ca.crt");
    const otherCaFile = join(dir, "other-ca.crt");
    return {
      dir,
      caFile,
      ca: await readFile(caFile, "utf8"),
      otherCaFile,
      otherCa: await readFile(otherCaFile, "utf8"),
      certFile: join(dir, "server.crt"),
      keyFile: join(dir, "server.key"),
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A TLS-only redis-server and its certificates. */
export interface TlsRedisServer {
  readonly server: RedisServer;
  readonly certs: TestCertificates;
  /** Stops the server and removes its folder and the certificates. */
  stop(): Promise<void>;
}

/** Makes certificates and starts a redis-server serving TLS only with them (`server.url` is `rediss://`). */
export async function startTlsRedisServer(options: Omit<RedisServerOptions, "tls"> = {}): Promise<TlsRedisServer> {
  const certs = await makeTestCertificates();
  let server: RedisServer;
  try {
    server = await startRedisServer({ ...options, tls: certs });
  } catch (error) {
    await certs.remove();
    throw error;
  }
  return {
    server,
    certs,
    async stop() {
      await server.stop();
      await certs.remove();
    },
  };
}
