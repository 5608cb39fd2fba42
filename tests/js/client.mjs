// Connecting a client Repo to a server and waiting for the server to hold our changes.
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { waitForPeer, shutdownRepo } from "./lib.mjs"

/**
 * A storage-less client Repo connected to `url` (which carries the token as `?token=`).
 * Resolves once the server answered `join` with `peer`.
 */
export async function connect(url) {
  // retryInterval 0 would disable reconnects; a short interval keeps a late-starting
  // server usable without stalling a test for 5 s.
  const adapter = new WebSocketClientAdapter(url, 500)
  const repo = new Repo({ network: [adapter], sharePolicy: async () => true })
  const serverPeerId = await waitForPeer(repo)
  return { repo, adapter, serverPeerId }
}

/**
 * True when the peer's last announced heads (`theirHeads` of our sync state with it) include
 * every change of `doc`: the server has applied and stored them ("acknowledged means durable").
 */
export function peerHasAll(doc, theirHeads) {
  if (!theirHeads) return false
  const ours = A.getHeads(doc)
  if (ours.every(h => theirHeads.includes(h))) return true
  // The peer may be ahead of us with concurrent changes: it has all of ours when viewing our
  // document at its heads leaves nothing of ours out.
  try {
    const atTheirs = A.view(doc, theirHeads)
    return A.getChanges(atTheirs, doc).length === 0
  } catch {
    return false // we do not know some of their heads yet
  }
}

/** Resolves once `peerId` has announced heads covering everything in the handle's document. */
export function waitUntilPeerHas(repo, handle, peerId) {
  return new Promise(resolve => {
    const check = ({ peerId: from, documentId, syncState }) => {
      if (from !== peerId || documentId !== handle.documentId) return
      if (peerHasAll(handle.doc(), syncState.theirHeads)) {
        repo.synchronizer.off("sync-state", check)
        resolve()
      }
    }
    repo.synchronizer.on("sync-state", check)
  })
}

/** Disconnects and lets pending timers die so that the process can exit. */
export async function close(repo) {
  await shutdownRepo(repo)
}
