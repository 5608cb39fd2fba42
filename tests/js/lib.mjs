// Shared helpers for the reference automerge-repo peers used by Carnet's interop tests.
// Every script prints exactly one JSON line on stdout and reports failures on stderr.
import * as A from "@automerge/automerge"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"

/** Parses `--name value` / `--flag` arguments; repeated names collect into arrays. */
export function parseArgs(argv, { repeated = [], flags = [] } = {}) {
  const out = {}
  for (const name of repeated) out[name] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith("--")) fail(`unexpected argument ${JSON.stringify(arg)}`)
    let name = arg.slice(2)
    let value
    const eq = name.indexOf("=")
    if (eq >= 0 && !repeated.includes(name.slice(0, eq))) {
      value = name.slice(eq + 1)
      name = name.slice(0, eq)
    } else if (flags.includes(name)) {
      value = true
    } else {
      if (i + 1 >= argv.length) fail(`missing value for --${name}`)
      value = argv[++i]
    }
    if (repeated.includes(name)) out[name].push(value)
    else out[name] = value
  }
  return out
}

/** Prints a message on stderr and exits non-zero. Never prints tokens or document content. */
export function fail(message, code = 1) {
  process.stderr.write(`error: ${message}\n`)
  process.exit(code)
}

/** Exits the process if it is still running after `ms` (a hung socket must not hang CI). */
export function hardTimeout(ms, what) {
  const timer = setTimeout(() => fail(`${what}: timed out after ${ms} ms`, 3), ms)
  timer.unref()
  return timer
}

/** Prints the single result line. */
export function emit(result) {
  process.stdout.write(JSON.stringify(result) + "\n")
}

/**
 * Parses `key=value`. The value is JSON when it parses as JSON (numbers, booleans, null,
 * objects, arrays, quoted strings), otherwise it is taken as a plain string.
 */
export function parseAssignment(text) {
  const eq = text.indexOf("=")
  if (eq <= 0) fail(`expected key=value, got an argument without '='`)
  const key = text.slice(0, eq)
  const raw = text.slice(eq + 1)
  let value
  try {
    value = JSON.parse(raw)
  } catch {
    value = raw
  }
  return [key, value]
}

/**
 * Converts a plain JSON value to what we store in Automerge: strings become scalar strings
 * (ImmutableString), as Carnet's documents never use collaborative Text for plain values.
 * `{"$counter": n}` becomes a Counter and `{"$timestamp": ms}` a timestamp (Date).
 */
export function toAutomerge(value) {
  if (typeof value === "string") return new A.ImmutableString(value)
  if (Array.isArray(value)) return value.map(toAutomerge)
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value)
    if (keys.length === 1 && keys[0] === "$counter") return new A.Counter(value.$counter)
    if (keys.length === 1 && keys[0] === "$timestamp") return new Date(value.$timestamp)
    return Object.fromEntries(keys.map(k => [k, toAutomerge(value[k])]))
  }
  return value
}

/**
 * Converts an Automerge document (or value) to plain JSON. Scalar strings (ImmutableString)
 * and Text both become strings, Counters their number, timestamps their milliseconds since
 * the epoch, unsigned ints (bigint) numbers, byte arrays lowercase hex.
 */
export function toPlain(value) {
  if (value === null || value === undefined) return null
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value
  if (typeof value === "bigint") return Number(value)
  if (A.isImmutableString(value)) return value.toString()
  if (A.isCounter(value)) return value.value
  if (value instanceof Date) return value.getTime()
  if (value instanceof Uint8Array) return Buffer.from(value).toString("hex")
  if (Array.isArray(value)) return value.map(toPlain)
  if (typeof value === "object") {
    return Object.fromEntries(Object.keys(value).map(k => [k, toPlain(value[k])]))
  }
  return String(value)
}

/** Structural equality for plain JSON values. */
export function jsonEqual(a, b) {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))
}

function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical)
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map(k => [k, canonical(v[k])]))
  }
  return v
}

/** Resolves once `repo` has a connected peer (the server answered our `join` with `peer`). */
export function waitForPeer(repo) {
  if (repo.peers.length > 0) return Promise.resolve(repo.peers[0])
  return new Promise(resolve => {
    const onPeer = ({ peerId }) => {
      repo.networkSubsystem.off("peer", onPeer)
      resolve(peerId)
    }
    repo.networkSubsystem.on("peer", onPeer)
  })
}

/** Serialises an Error to a message safe for logs (no document content). */
export function describe(err) {
  return err instanceof Error ? err.message : String(err)
}

/**
 * `Repo.shutdown()` in 2.5.6 rejects ("DocHandle is not ready") as soon as the repo holds a
 * handle for a document that turned out unavailable, and then flushes nothing. Disconnect and
 * flush only the documents that are ready instead.
 */
export async function shutdownRepo(repo) {
  for (const adapter of repo.networkSubsystem.adapters) adapter.disconnect()
  const ready = Object.values(repo.handles).filter(h => h.isReady()).map(h => h.documentId)
  await repo.flush(ready)
}

/**
 * The Repo calls the adapter's `connect()` only after its storage id has loaded; connections
 * accepted before that are never wired up (their `join` is lost and the client waits for a
 * 5 s keep-alive to time out). `connected` resolves once the adapter handles connections, so
 * that servers only listen, and announce their port, from then on.
 */
export class ReadyServerAdapter extends WebSocketServerAdapter {
  #resolve
  connected = new Promise(resolve => (this.#resolve = resolve))
  connect(peerId, peerMetadata) {
    super.connect(peerId, peerMetadata)
    this.#resolve()
  }
}
