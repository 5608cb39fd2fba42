#!/usr/bin/env node
// Reference automerge-repo server for the side-by-side benchmark.
// usage: node bench-server.mjs [--port 0] [--storage DIR] [--share-policy request|announce]
// Prints {"port": N} once listening. On SIGTERM/SIGINT prints one more line:
// {"cpu_user_us":..,"cpu_system_us":..,"cpu_total_us":..,"max_rss_kib":..,"wall_ms":..}
// and exits. The default share policy is "request" (sharePolicy false), the configuration of the
// official automerge-repo-sync-server: "announce" would push every document to every client.
import { startServer } from "./serve.mjs"
import { emit } from "./lib.mjs"

const started = performance.now()
const cpuAtStart = process.cpuUsage()
startServer(process.argv.slice(2), {
  defaultSharePolicy: "request",
  onStop: reason => {
    const cpu = process.cpuUsage(cpuAtStart)
    emit({
      stopped_by: reason,
      cpu_user_us: cpu.user,
      cpu_system_us: cpu.system,
      cpu_total_us: cpu.user + cpu.system,
      // resourceUsage().maxRSS is in kibibytes (getrusage ru_maxrss on Linux).
      max_rss_kib: process.resourceUsage().maxRSS,
      wall_ms: Math.round(performance.now() - started),
    })
  },
})
