// The reference automerge-repo sync server: a Repo behind the official WebSocketServerAdapter.
import { Repo } from "@automerge/automerge-repo"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocketServer } from "ws"
import { createServer } from "node:http"
import { emit, fail, parseArgs, describe, shutdownRepo, ReadyServerAdapter } from "./lib.mjs"

const USAGE =
  "usage: [--port N] [--storage DIR] [--share-policy announce|request] [--max-seconds S]"

/**
 * Starts the server from command-line arguments and prints `{"port": N}` once listening.
 * `onStop(code)` runs on SIGTERM/SIGINT before the process exits.
 *
 * --share-policy announce: sharePolicy returns true (the Repo pushes every document to every
 *   connected peer). --share-policy request: sharePolicy returns false, documents are only sent
 *   to peers that asked for them, as the official automerge-repo-sync-server does.
 */
export function startServer(argv, { defaultSharePolicy, onStop }) {
  const args = parseArgs(argv)
  const port = Number(args.port ?? 0)
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port. ${USAGE}`)
  const sharePolicyName = args["share-policy"] ?? defaultSharePolicy
  if (!["announce", "request"].includes(sharePolicyName)) fail(`bad --share-policy. ${USAGE}`)
  const announce = sharePolicyName === "announce"
  // Safety net so that a forgotten server never outlives a CI job.
  const maxSeconds = Number(args["max-seconds"] ?? 3600)
  setTimeout(() => stop("max-seconds reached"), maxSeconds * 1000).unref()

  const http = createServer()
  const wss = new WebSocketServer({ server: http, maxPayload: 64 * 1024 * 1024 })
  const adapter = new ReadyServerAdapter(wss)
  const repo = new Repo({
    network: [adapter],
    storage: args.storage ? new NodeFSStorageAdapter(args.storage) : undefined,
    sharePolicy: async () => announce,
  })
  http.on("error", err => fail(`server: ${describe(err)}`))
  http.on("listening", () => emit({ port: http.address().port }))
  adapter.connected.then(() => http.listen(port, "127.0.0.1"))

  let stopping = false
  function stop(reason) {
    if (stopping) return
    stopping = true
    // Report first: flushing storage must not delay or lose the measurement.
    onStop?.(reason)
    const done = () => process.exit(0)
    setTimeout(done, 2000).unref()
    wss.close()
    http.close()
    for (const client of wss.clients) client.terminate()
    shutdownRepo(repo).then(done, done)
  }
  process.on("SIGTERM", () => stop("SIGTERM"))
  process.on("SIGINT", () => stop("SIGINT"))
  return { repo, wss }
}
