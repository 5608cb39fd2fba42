//! Handling of received frames: the handshake, and `request`/`sync` with its checks
//! (sender binding, payload guard, change count, scope, document creation rules).

use automerge::Automerge;
use automerge::sync::{self, SyncDoc};

use super::ConnId;
use super::{
    Access, CloseReason, Engine, Event, PeerDoc, Phase, Role, Step, guard, sync_state_key,
};
use crate::ids::DocumentId;
use crate::storage::StorageWrite;
use crate::wire::{Frame, Join, PROTOCOL_V1, Peer, SyncFrame};

impl Engine {
    pub(super) fn on_join(&mut self, conn: ConnId, join: Join, step: &mut Step) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.bound_peer.as_ref().is_some_and(|b| *b != join.sender_id) {
            return self.close(conn, CloseReason::PeerIdMismatch, step);
        }
        // As the JS server does: no list means "1".
        if let Some(versions) = &join.supported_protocol_versions
            && !versions.iter().any(|v| v == PROTOCOL_V1)
        {
            c.remote = Some(join.sender_id);
            return self.close(conn, CloseReason::UnsupportedProtocol, step);
        }
        c.phase = Phase::Open;
        c.remote = Some(join.sender_id.clone());
        c.sync_state_key = sync_state_key(&join.sender_id, &join.peer_metadata);
        c.remote_metadata = join.peer_metadata;
        step.send(
            conn,
            Frame::Peer(Peer {
                sender_id: self.config.peer_id.clone(),
                peer_metadata: self.config.peer_metadata.clone(),
                selected_protocol_version: PROTOCOL_V1.to_owned(),
                target_id: join.sender_id.clone(),
            }),
        );
        step.events.push(Event::PeerJoined {
            conn,
            peer_id: join.sender_id,
        });
    }

    pub(super) fn on_peer(&mut self, conn: ConnId, peer: Peer, step: &mut Step) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.remote = Some(peer.sender_id.clone());
        if peer.selected_protocol_version != PROTOCOL_V1 {
            return self.close(conn, CloseReason::UnsupportedProtocol, step);
        }
        c.phase = Phase::Open;
        c.sync_state_key = sync_state_key(&peer.sender_id, &peer.peer_metadata);
        c.remote_metadata = peer.peer_metadata;
        step.events.push(Event::PeerJoined {
            conn,
            peer_id: peer.sender_id,
        });
        // Offer every document we hold (deterministic order).
        let mut docs: Vec<DocumentId> = self.docs.keys().copied().collect();
        docs.sort();
        for doc in docs {
            self.send_sync(conn, doc, step);
        }
    }

    pub(super) fn on_open_frame(&mut self, conn: ConnId, frame: Frame, step: &mut Step) {
        let remote = self.conns.get(&conn).and_then(|c| c.remote.clone());
        // The peer id is bound at the handshake; a frame claiming another sender is refused.
        if frame.sender_id().map(str::to_owned) != remote {
            return self.close(conn, CloseReason::PeerIdMismatch, step);
        }
        match frame {
            Frame::Request(f) => self.on_sync(conn, f, true, step),
            Frame::Sync(f) => self.on_sync(conn, f, false, step),
            Frame::DocUnavailable(f) => {
                if let Some(c) = self.conns.get_mut(&conn)
                    && let Some(pd) = c.docs.get_mut(&f.document_id)
                {
                    pd.unavailable = true;
                }
                step.events.push(Event::DocUnavailable {
                    conn,
                    doc: f.document_id,
                });
            }
            // Presence and storage-id gossip are not used by Carnet: accepted and dropped.
            Frame::Ephemeral(_)
            | Frame::RemoteSubscriptionChange(_)
            | Frame::RemoteHeadsChanged(_) => {}
            Frame::Join(_) | Frame::Peer(_) => self.close(conn, CloseReason::UnexpectedFrame, step),
            // Handled before the phase dispatch.
            Frame::Leave(_) | Frame::Error(_) => {}
        }
    }

    pub(super) fn on_sync(
        &mut self,
        conn: ConnId,
        f: SyncFrame,
        is_request: bool,
        step: &mut Step,
    ) {
        let limits = &self.config.limits;
        if let Err(reason) = guard::guard_sync_payload(&f.data, limits) {
            return self.close(conn, reason, step);
        }
        let Ok(message) = sync::Message::decode(&f.data) else {
            return self.close(conn, CloseReason::InvalidSyncMessage, step);
        };
        match guard::count_change_chunks(message.changes.iter()) {
            None => return self.close(conn, CloseReason::InvalidSyncMessage, step),
            Some(n) if n > limits.max_changes_per_message => {
                return self.close(conn, CloseReason::TooManyChanges, step);
            }
            Some(_) => {}
        }
        let doc = f.document_id;
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let Some(access) = super::effective_access(&self.sealed, &c.scope, &doc) else {
            return self.unavailable(conn, doc, step);
        };
        if !c.docs.contains_key(&doc) && c.docs.len() >= limits.max_documents_per_peer {
            return self.close(conn, CloseReason::TooManyDocuments, step);
        }
        if !self.docs.contains_key(&doc) {
            // Only a read-write peer that actually holds data may create a document here
            // (a device uploading a document it made offline); a bare `request` never does.
            if access == Access::ReadWrite && !message.heads.is_empty() {
                let fresh = Automerge::new().with_actor(self.passive_actor());
                self.docs.insert(doc, fresh);
            } else {
                return self.unavailable(conn, doc, step);
            }
        }
        let (Some(data), Some(c)) = (self.docs.get_mut(&doc), self.conns.get_mut(&conn)) else {
            return;
        };
        let peer_doc = c.docs.entry(doc).or_insert_with(|| PeerDoc::new(access));
        peer_doc.unavailable = false;
        let their_heads_before = peer_doc.sync.their_heads.clone();
        let shared_before = peer_doc.sync.shared_heads.clone();
        let old_heads = data.get_heads();
        let received = data.receive_sync_message(&mut peer_doc.sync, message);
        let state_write = c.sync_state_key.as_ref().and_then(|key| {
            (peer_doc.sync.shared_heads != shared_before).then(|| StorageWrite::SyncState {
                doc,
                peer: key.clone(),
                bytes: peer_doc.sync.encode(),
            })
        });
        let their_heads = peer_doc.sync.their_heads.clone();
        let peer_has_nothing = their_heads.as_ref().is_none_or(Vec::is_empty);
        let we_have_nothing = data.get_heads().is_empty();
        // Persist whatever was applied, even if a later part of the message was bad.
        let changed = self.persist_if_changed(doc, &old_heads, step);
        // After the document chunk: a stored sync state must not claim heads we lack on disk.
        step.writes.extend(state_write);
        if received.is_err() {
            return self.close(conn, CloseReason::InvalidSyncMessage, step);
        }
        if their_heads != their_heads_before
            && let Some(heads) = their_heads
        {
            if self.config.role == Role::Client {
                self.server_heads.insert(doc, heads.clone());
            }
            step.events.push(Event::RemoteHeads { conn, doc, heads });
        }
        if we_have_nothing && peer_has_nothing {
            // Neither side holds anything: answer like automerge-repo does for a document
            // nobody has, and forget the per-peer state so it is not pushed to later.
            if let Some(c) = self.conns.get_mut(&conn) {
                c.docs.remove(&doc);
            }
            if is_request || self.config.role == Role::Server {
                self.unavailable(conn, doc, step);
            }
            return;
        }
        self.send_sync(conn, doc, step);
        if changed {
            self.sync_to_peers(doc, Some(conn), step);
        }
    }
}
