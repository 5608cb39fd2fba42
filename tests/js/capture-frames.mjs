#!/usr/bin/env node
// Records real automerge-repo 2.5.6 WebSocket frames for the Rust codec's fixtures.
//
// A recording proxy (a plain `ws` server) sits between real client Repos
// (WebSocketClientAdapter) and a real server Repo (WebSocketServerAdapter + NodeFS storage),
// and keeps every binary frame in both directions. A raw `ws` client also speaks to the
// real server directly to capture the `error` reply to an unsupported protocol version.
//
// usage: node capture-frames.mjs [--out fixtures/frames.json] [--copy-to PATH]
// Prints {"frames": N, "types": {...}, "out": PATH}.
import * as A from "@automerge/automerge"
import { Repo, cbor } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocketServer, WebSocket } from "ws"
import { once } from "node:events"
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { waitUntilPeerHas } from "./client.mjs"
import { parseArgs, fail, hardTimeout, emit, describe, waitForPeer, shutdownRepo, ReadyServerAdapter } from "./lib.mjs"

const here = dirname(fileURLToPath(import.meta.url))
const args = parseArgs(process.argv.slice(2))
const out = resolve(args.out ?? join(here, "fixtures", "frames.json"))
hardTimeout(Number(args.timeout ?? 30000), "capture-frames")

const frames = []
let scenario = "setup"

/** A JSON view of a decoded frame: byte strings become {"$bytes": hex}. */
function jsonView(value) {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("hex") }
  if (Array.isArray(value)) return value.map(jsonView)
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonView(v)]))
  }
  return value
}

const t0 = Date.now()
function record(direction, bytes, connection) {
  if (process.env.CAPTURE_DEBUG) process.stderr.write(`${Date.now() - t0} ms ${scenario} ${direction}\n`)
  const buf = Buffer.from(bytes)
  const decoded = cbor.decode(buf)
  frames.push({ type: decoded.type, direction, connection, scenario, hex: buf.toString("hex"), decoded: jsonView(decoded) })
}

const sleep = ms => new Promise(r => setTimeout(r, ms))

// --- the real server -------------------------------------------------------------------
const storageDir = mkdtempSync(join(tmpdir(), "carnet-capture-"))
const writerDir = mkdtempSync(join(tmpdir(), "carnet-capture-writer-"))
const serverWss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
await once(serverWss, "listening")
const serverAdapter = new ReadyServerAdapter(serverWss)
const serverRepo = new Repo({
  peerId: "reference-server",
  network: [serverAdapter],
  storage: new NodeFSStorageAdapter(storageDir),
  sharePolicy: async () => false,
  enableRemoteHeadsGossiping: true,
})
await serverAdapter.connected
const serverUrl = `ws://127.0.0.1:${serverWss.address().port}`

// --- the recording proxy -----------------------------------------------------------------
const proxy = new WebSocketServer({ host: "127.0.0.1", port: 0 })
await once(proxy, "listening")
let connections = 0
proxy.on("connection", (downstream, request) => {
  const connection = ++connections
  const upstream = new WebSocket(serverUrl + request.url)
  const pending = []
  upstream.on("open", () => pending.splice(0).forEach(m => upstream.send(m)))
  downstream.on("message", (data, isBinary) => {
    if (!isBinary) return fail("client sent a text frame")
    record("client->server", data, connection)
    if (upstream.readyState === WebSocket.OPEN) upstream.send(data)
    else pending.push(data)
  })
  upstream.on("message", (data, isBinary) => {
    if (!isBinary) return fail("server sent a text frame")
    record("server->client", data, connection)
    if (downstream.readyState === WebSocket.OPEN) downstream.send(data)
  })
  downstream.on("close", () => upstream.close())
  upstream.on("close", () => downstream.close())
  downstream.on("error", () => {})
  upstream.on("error", () => {})
})
const proxyUrl = `ws://127.0.0.1:${proxy.address().port}/sync?token=capture-token`

async function client(peerId, storage) {
  const repo = new Repo({
    peerId,
    storage,
    network: [new WebSocketClientAdapter(proxyUrl, 500)],
    sharePolicy: async () => true,
    enableRemoteHeadsGossiping: true,
  })
  const serverPeerId = await waitForPeer(repo)
  return { repo, serverPeerId }
}

try {
  // 1. A new document: join/peer, then `sync` (never `request`) carrying the changes.
  scenario = "create"
  const writer = await client("client-writer", new NodeFSStorageAdapter(writerDir))
  const handle = writer.repo.create()
  const acknowledged = waitUntilPeerHas(writer.repo, handle, writer.serverPeerId)
  handle.change(doc => {
    doc.schema = 1
    doc.name = new A.ImmutableString("Équipe 12")
    doc.tally = new A.Counter(0)
    doc.at = new Date(1764300000000)
  })
  await acknowledged
  await sleep(300)

  // 2. Finding that document from a second client: `request`, then `sync` replies.
  scenario = "find-existing"
  const reader = await client("client-reader")
  const found = await reader.repo.find(handle.url)
  await sleep(300)

  // 3. A change by the writer is forwarded by the server to the reader that has it open.
  scenario = "change-forwarded"
  const seen = new Promise(r => found.once("change", r))
  handle.change(doc => doc.tally.increment(1))
  await seen
  await sleep(300)

  // 4. Ephemeral message (presence-like), relayed by the server to the other peer.
  scenario = "ephemeral"
  const relayed = new Promise(r => found.once("ephemeral-message", r))
  handle.broadcast({ cursor: 3 })
  await relayed
  await sleep(100)

  // 5. Remote-heads gossiping: the reader subscribes to the writer's storage id; the server
  //    then tells it the heads the writer (a non-ephemeral peer, it has storage) reached.
  scenario = "remote-heads"
  const writerStorageId = await writer.repo.storageId()
  const gossiped = new Promise(r => found.once("remote-heads", r))
  reader.repo.subscribeToRemotes([writerStorageId])
  await sleep(200)
  handle.change(doc => doc.tally.increment(1))
  await gossiped
  await sleep(300)

  // 6. Finding a document nobody has: `request` answered by `doc-unavailable`.
  scenario = "find-missing"
  const missing = await reader.repo.find("automerge:2j9knpCseyhnK8izDmLpGP5WMdZQ").then(
    () => fail("a missing document was found"),
    err => describe(err),
  )
  if (!/unavailable/.test(missing)) fail(`unexpected error for a missing document: ${missing}`)
  await sleep(100)

  // 7. A raw client offering only an unknown protocol version gets `error` and is closed.
  scenario = "unsupported-version"
  const raw = new WebSocket(`${serverUrl}/sync`)
  await once(raw, "open")
  const join = cbor.encode({
    type: "join",
    senderId: "raw-client",
    peerMetadata: {},
    supportedProtocolVersions: ["99"],
  })
  record("client->server", join, 0)
  const answered = once(raw, "message")
  raw.send(join)
  const [reply] = await answered
  record("server->client", reply, 0)
  raw.close()

  await shutdownRepo(writer.repo)
  await shutdownRepo(reader.repo)
} catch (err) {
  fail(`capture-frames: ${describe(err)}`)
}

proxy.close()
for (const c of proxy.clients) c.terminate()
serverWss.close()
for (const c of serverWss.clients) c.terminate()
await shutdownRepo(serverRepo)
rmSync(storageDir, { recursive: true, force: true })
rmSync(writerDir, { recursive: true, force: true })

mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, JSON.stringify(frames, null, 1) + "\n")
if (args["copy-to"]) copyFileSync(out, resolve(args["copy-to"]))
const types = {}
for (const f of frames) types[`${f.direction} ${f.type}`] = (types[`${f.direction} ${f.type}`] ?? 0) + 1
emit({ frames: frames.length, types, out })
process.exit(0)
