#!/usr/bin/env node
// Writes values into a document through a sync server and waits until the server has them.
// usage: node client-write.mjs --url ws://127.0.0.1:PORT/sync?token=T [--doc automerge:...]
//          [--set key=value]... [--timeout ms]
// Values are JSON when they parse as JSON, else strings; strings are stored as scalar strings
// (ImmutableString), {"$counter": n} as a Counter, {"$timestamp": ms} as a timestamp.
// Prints {"url": "automerge:...", "documentId": "...", "heads": ["<hex>", ...]}.
import * as A from "@automerge/automerge"
import { connect, waitUntilPeerHas, close } from "./client.mjs"
import { parseArgs, parseAssignment, toAutomerge, fail, hardTimeout, emit, describe } from "./lib.mjs"

const args = parseArgs(process.argv.slice(2), { repeated: ["set"] })
if (!args.url) fail("usage: client-write.mjs --url WS_URL [--doc URL] [--set key=value]...")
const timeoutMs = Number(args.timeout ?? 20000)
hardTimeout(timeoutMs, "client-write")
const assignments = args.set.map(parseAssignment)

try {
  const { repo, serverPeerId } = await connect(args.url)
  const handle = args.doc ? await repo.find(args.doc) : repo.create()
  // Register before changing so that no sync-state update can be missed.
  const acknowledged = waitUntilPeerHas(repo, handle, serverPeerId)
  if (assignments.length > 0) {
    handle.change(doc => {
      for (const [key, value] of assignments) doc[key] = toAutomerge(value)
    })
  }
  // A found document with nothing to write came from the server (we have no storage): nothing
  // to wait for, and no further sync-state update would come.
  if (!(args.doc && assignments.length === 0)) await acknowledged
  emit({ url: handle.url, documentId: handle.documentId, heads: A.getHeads(handle.doc()) })
  await close(repo)
  process.exit(0)
} catch (err) {
  fail(`client-write: ${describe(err)}`)
}
