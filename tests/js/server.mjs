#!/usr/bin/env node
// Reference automerge-repo server for interop tests.
// usage: node server.mjs [--port 0] [--storage DIR] [--share-policy announce|request]
// Prints {"port": N} once listening; runs until SIGTERM/SIGINT.
import { startServer } from "./serve.mjs"

startServer(process.argv.slice(2), { defaultSharePolicy: "announce" })
