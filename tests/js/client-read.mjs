#!/usr/bin/env node
// Reads a document through a sync server and prints its content as plain JSON.
// usage: node client-read.mjs --url ws://127.0.0.1:PORT/sync?token=T --doc automerge:...
//          [--expect key=value]... [--timeout ms]
// With --expect, waits (until the timeout) for every key to have the value, then prints.
// Prints {"url": ..., "heads": [...], "doc": {...}}; exits 1 when the document is unavailable,
// 3 on timeout. Scalar strings and Text print as strings, Counters as numbers, timestamps as
// milliseconds since the epoch.
import * as A from "@automerge/automerge"
import { connect, close } from "./client.mjs"
import { parseArgs, parseAssignment, toPlain, jsonEqual, fail, hardTimeout, emit, describe } from "./lib.mjs"

const args = parseArgs(process.argv.slice(2), { repeated: ["expect"] })
if (!args.url || !args.doc) fail("usage: client-read.mjs --url WS_URL --doc URL [--expect key=value]...")
const timeoutMs = Number(args.timeout ?? 20000)
hardTimeout(timeoutMs, "client-read")
const expected = args.expect.map(parseAssignment)

const matches = doc => {
  const plain = toPlain(doc)
  return expected.every(([key, value]) => jsonEqual(plain[key] ?? null, value))
}

try {
  const { repo } = await connect(args.url)
  const handle = await repo.find(args.doc)
  if (!matches(handle.doc())) {
    await new Promise(resolve => {
      const onChange = ({ doc }) => {
        if (matches(doc)) {
          handle.off("change", onChange)
          resolve()
        }
      }
      handle.on("change", onChange)
    })
  }
  const doc = handle.doc()
  emit({ url: handle.url, heads: A.getHeads(doc), doc: toPlain(doc) })
  await close(repo)
  process.exit(0)
} catch (err) {
  fail(`client-read: ${describe(err)}`)
}
