// JS against JS: the reference server, writer and reader agree. Run with `npm test`.
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { spawn, execFile } from "node:child_process"
import { once } from "node:events"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { createInterface } from "node:readline"

const here = dirname(fileURLToPath(import.meta.url))
const run = promisify(execFile)

/** Starts a script that prints a JSON line first (server.mjs) and returns it with the process. */
async function startServer(script, extra = []) {
  const child = spawn(process.execPath, [join(here, script), "--port", "0", ...extra], {
    stdio: ["ignore", "pipe", "inherit"],
  })
  const lines = createInterface({ input: child.stdout })
  const iterator = lines[Symbol.asyncIterator]()
  const first = await Promise.race([
    iterator.next(),
    once(child, "exit").then(([code]) => assert.fail(`${script} exited with ${code}`)),
  ])
  return { child, port: JSON.parse(first.value).port, lines: iterator }
}

async function stop(child) {
  if (child.exitCode !== null) return
  const exited = once(child, "exit")
  child.kill("SIGTERM")
  await exited
}

async function node(script, args) {
  const { stdout } = await run(process.execPath, [join(here, script), ...args], { timeout: 30000 })
  const lines = stdout.trim().split("\n")
  assert.equal(lines.length, 1, `${script} prints exactly one line`)
  return JSON.parse(lines[0])
}

let server
let storage
let url

before(async () => {
  storage = mkdtempSync(join(tmpdir(), "carnet-js-"))
  server = await startServer("server.mjs", ["--storage", storage])
  url = `ws://127.0.0.1:${server.port}/sync?token=selftest`
})

after(async () => {
  await stop(server.child)
  rmSync(storage, { recursive: true, force: true })
})

test("a reader in another process sees what the writer wrote", async () => {
  const written = await node("client-write.mjs", [
    "--url", url,
    "--set", "schema=1",
    "--set", "name=Équipe 12",
    "--set", 'tally={"$counter":4}',
    "--set", 'sector={"id":"S-75011-03","covered":true,"found":0}',
  ])
  assert.match(written.url, /^automerge:[1-9A-HJ-NP-Za-km-z]+$/)
  assert.equal(written.heads.length, 1)

  const read = await node("client-read.mjs", ["--url", url, "--doc", written.url])
  assert.deepEqual(read.heads, written.heads)
  assert.deepEqual(read.doc, {
    schema: 1,
    name: "Équipe 12",
    tally: 4,
    sector: { id: "S-75011-03", covered: true, found: 0 },
  })
})

test("a second writer's change to a found document reaches a later reader", async () => {
  const first = await node("client-write.mjs", ["--url", url, "--set", "a=1"])
  const second = await node("client-write.mjs", ["--url", url, "--doc", first.url, "--set", "b=two"])
  assert.equal(second.url, first.url)
  assert.notDeepEqual(second.heads, first.heads)
  const read = await node("client-read.mjs", ["--url", url, "--doc", first.url, "--expect", "b=two"])
  assert.deepEqual(read.doc, { a: 1, b: "two" })
  assert.deepEqual(read.heads, second.heads)
})

test("finding a document the server does not have fails as unavailable", async () => {
  // A valid URL (correct bs58check checksum) for a document that nobody created.
  const missing = (await node("client-write.mjs", ["--url", url])).url
  // ... on a fresh server without that document:
  const other = await startServer("server.mjs")
  try {
    await assert.rejects(
      run(process.execPath, [join(here, "client-read.mjs"), "--url",
        `ws://127.0.0.1:${other.port}/sync`, "--doc", missing], { timeout: 30000 }),
      err => err.code === 1 && /is unavailable/.test(err.stderr),
    )
  } finally {
    await stop(other.child)
  }
})

test("bench-server reports CPU time and peak RSS on SIGTERM", async () => {
  const bench = await startServer("bench-server.mjs")
  await node("client-write.mjs", ["--url", `ws://127.0.0.1:${bench.port}/sync`, "--set", "x=1"])
  const exited = once(bench.child, "exit")
  bench.child.kill("SIGTERM")
  const report = JSON.parse((await bench.lines.next()).value)
  await exited
  assert.equal(report.stopped_by, "SIGTERM")
  assert.ok(report.cpu_total_us > 0)
  assert.ok(report.max_rss_kib > 0)
})

test("a document saved by Rust automerge 0.12.0 loads with the JS automerge in use", async () => {
  const A = await import("@automerge/automerge")
  const { readFileSync } = await import("node:fs")
  const { toPlain } = await import("./lib.mjs")
  const bytes = readFileSync(join(here, "fixtures", "rust-automerge-0.12.0.automerge"))
  const { heads } = JSON.parse(readFileSync(join(here, "fixtures", "rust-automerge-0.12.0.json"), "utf8"))
  const doc = A.load(bytes)
  assert.deepEqual(A.getHeads(doc), heads)
  // Types as JS sees them (see fixtures/rust-automerge-0.12.0.rs for what Rust wrote).
  assert.ok(A.isImmutableString(doc.name), "ScalarValue::Str reads as ImmutableString")
  assert.equal(typeof doc.note, "string", "ObjType::Text reads as a plain string")
  assert.ok(A.isCounter(doc.tally), "counter reads as Counter")
  assert.ok(doc.at instanceof Date, "timestamp reads as Date")
  assert.equal(typeof doc.unsigned, "bigint", "Uint reads as bigint")
  assert.ok(doc.bytes instanceof Uint8Array)
  assert.deepEqual(toPlain(doc), {
    schema: 1,
    name: "Équipe 12",
    tally: 3,
    at: 1764300000000,
    ratio: 0.5,
    whole_float: 2,
    unsigned: 7,
    covered: true,
    nothing: null,
    bytes: "0102ff",
    sector: { id: "S-75011-03" },
    list: ["a", 3],
    note: "texte libre",
  })
})

test("captured frames decode and re-encode byte for byte with the installed automerge-repo", async () => {
  const A = await import("@automerge/automerge")
  const { cbor } = await import("@automerge/automerge-repo")
  const { readFileSync } = await import("node:fs")
  const frames = JSON.parse(readFileSync(join(here, "fixtures", "frames.json"), "utf8"))
  const types = new Set(frames.map(f => f.type))
  for (const t of ["join", "peer", "request", "sync", "doc-unavailable", "ephemeral",
    "remote-subscription-change", "remote-heads-changed", "error"]) {
    assert.ok(types.has(t), `fixtures contain a ${t} frame`)
  }
  for (const frame of frames) {
    const bytes = Buffer.from(frame.hex, "hex")
    const message = cbor.decode(bytes)
    assert.equal(message.type, frame.type)
    assert.equal(Buffer.from(cbor.encode(message)).toString("hex"), frame.hex)
    if (frame.type === "sync" || frame.type === "request") {
      assert.ok(message.data instanceof Uint8Array)
      A.decodeSyncMessage(message.data) // throws on a malformed sync message
    }
  }
})
