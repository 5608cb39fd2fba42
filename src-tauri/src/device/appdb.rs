//! The app's own tables (identity, enrolment, drafts) through the app's connection to the
//! SQLite file. The sync driver has its own connection to the same file (chunks, sync states);
//! both are WAL with `synchronous=FULL`, so a write is on disk when it returns.
//!
//! SQLite never runs on the async runtime: every call goes through `spawn_blocking`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use automerge::ActorId;
use rusqlite::{Connection, OptionalExtension, params};

use carnet_shared::ids::DocumentId;
use carnet_shared::model::Millis;
use carnet_shared::store::Store;

use super::draft::EncounterDraft;
use super::error::DeviceError;
use super::{Enrolment, EnrolmentKind, schema};

/// What the file says about this installation when it is opened.
pub(super) struct Opened {
    pub db: AppDb,
    pub device_id: String,
    pub actor: ActorId,
    pub enrolment: Option<Enrolment>,
}

#[derive(Clone)]
pub(super) struct AppDb {
    // A `Store` for its pragmas (WAL, synchronous=FULL, busy timeout) and migrations; the
    // app's tables are reached through its connection.
    store: Arc<Mutex<Store>>,
}

impl AppDb {
    /// Opens (creating if needed) the file, runs the app's migrations, and makes this
    /// installation's identity from `fresh_identity` the first time. Blocking.
    pub fn open(path: &Path, fresh_identity: [u8; 16]) -> Result<Opened, DeviceError> {
        let mut store = Store::open(path)?;
        store.migrate(schema::NAMESPACE, schema::MIGRATIONS)?;
        let conn = store.connection();
        let stored: Option<(String, Vec<u8>)> = conn
            .query_row(
                "SELECT device_id, actor FROM app_identity WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (device_id, actor) = match stored {
            Some(found) => found,
            None => {
                let id = uuid::Builder::from_random_bytes(fresh_identity).into_uuid();
                let device_id = format!("device-{id}");
                conn.execute(
                    "INSERT INTO app_identity (id, device_id, actor) VALUES (1, ?1, ?2)",
                    params![device_id, fresh_identity.as_slice()],
                )?;
                (device_id, fresh_identity.to_vec())
            }
        };
        let enrolment = read_enrolment(conn)?;
        Ok(Opened {
            db: Self {
                store: Arc::new(Mutex::new(store)),
            },
            device_id,
            actor: ActorId::from(actor),
            enrolment,
        })
    }

    /// Runs `f` on the app's connection off the async runtime.
    async fn call<T, F>(&self, f: F) -> Result<T, DeviceError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, DeviceError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store
                .lock()
                .map_err(|_| DeviceError::Internal("app database lock poisoned"))?;
            f(&mut guard)
        })
        .await
        .map_err(|_| DeviceError::Internal("app database task failed"))?
    }

    pub async fn save_enrolment(&self, e: Enrolment, now: Millis) -> Result<(), DeviceError> {
        self.call(move |s| {
            s.connection().execute(
                "INSERT INTO app_enrolment
                     (id, server_url, token, peer_id, team_name, night_doc, team_doc, enrolled_at,
                      kind)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET server_url = excluded.server_url,
                     token = excluded.token, peer_id = excluded.peer_id,
                     team_name = excluded.team_name, night_doc = excluded.night_doc,
                     team_doc = excluded.team_doc, enrolled_at = excluded.enrolled_at,
                     kind = excluded.kind",
                params![
                    e.server_url,
                    e.token,
                    e.peer_id,
                    e.name,
                    e.shared_doc.as_bytes().as_slice(),
                    e.own_doc.as_bytes().as_slice(),
                    now,
                    e.kind.code()
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Stores document bytes as one chunk (seeding a device before the sync client runs).
    pub async fn store_document(&self, doc: DocumentId, bytes: Vec<u8>) -> Result<(), DeviceError> {
        self.call(move |s| {
            s.apply(&[carnet_shared::storage::StorageWrite::incremental(
                doc, bytes,
            )])?;
            Ok(())
        })
        .await
    }

    /// Erases what this device holds of its enrolment: the documents (chunks, sync states,
    /// the server's last heads), the enrolment (token) and every draft, in one transaction with
    /// `secure_delete` on and the WAL truncated afterwards, so the bytes leave the file. Only
    /// with the sync client stopped (it owns the documents otherwise). Blocking work off the
    /// runtime like every call here.
    pub async fn erase_enrolment(&self, docs: Vec<DocumentId>) -> Result<(), DeviceError> {
        self.call(move |s| {
            s.connection()
                .pragma_update(None, "secure_delete", "ON")?;
            let has_heads: bool = s.connection().query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'net_server_heads'",
                [],
                |r| r.get(0),
            )?;
            let tx = s.connection_mut().transaction()?;
            for doc in &docs {
                tx.execute(
                    "DELETE FROM documents WHERE doc_id = ?1",
                    params![doc.as_bytes().as_slice()],
                )?;
                if has_heads {
                    tx.execute(
                        "DELETE FROM net_server_heads WHERE doc_id = ?1",
                        params![doc.as_bytes().as_slice()],
                    )?;
                }
            }
            tx.execute("DELETE FROM app_enrolment", [])?;
            tx.execute("DELETE FROM app_drafts", [])?;
            tx.commit()?;
            s.connection()
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    pub async fn list_drafts(&self) -> Result<Vec<EncounterDraft>, DeviceError> {
        self.call(|s| {
            let mut stmt = s
                .connection()
                .prepare("SELECT draft FROM app_drafts ORDER BY updated_at DESC, id")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut drafts = Vec::new();
            for row in rows {
                // A draft this build cannot read (written by a newer one) is skipped.
                if let Ok(d) = serde_json::from_str::<EncounterDraft>(&row?) {
                    drafts.push(d);
                }
            }
            Ok(drafts)
        })
        .await
    }

    pub async fn save_draft(&self, draft: &EncounterDraft, now: Millis) -> Result<(), DeviceError> {
        let id = draft.id.to_string();
        let json = serde_json::to_string(draft).map_err(|_| DeviceError::Internal("draft"))?;
        self.call(move |s| {
            s.connection().execute(
                "INSERT INTO app_drafts (id, draft, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET draft = excluded.draft,
                     updated_at = excluded.updated_at",
                params![id, json, now],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn discard_draft(&self, id: uuid::Uuid) -> Result<(), DeviceError> {
        self.call(move |s| {
            s.connection().execute(
                "DELETE FROM app_drafts WHERE id = ?1",
                params![id.to_string()],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn draft(&self, id: uuid::Uuid) -> Result<Option<EncounterDraft>, DeviceError> {
        self.call(move |s| {
            let json: Option<String> = s
                .connection()
                .query_row(
                    "SELECT draft FROM app_drafts WHERE id = ?1",
                    params![id.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
        })
        .await
    }
}

fn read_enrolment(conn: &Connection) -> Result<Option<Enrolment>, DeviceError> {
    type Row = (String, String, String, String, Vec<u8>, Vec<u8>, String);
    let row: Option<Row> = conn
        .query_row(
            "SELECT server_url, token, peer_id, team_name, night_doc, team_doc, kind
             FROM app_enrolment WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    let Some((server_url, token, peer_id, name, shared, own, kind)) = row else {
        return Ok(None);
    };
    let bad = |_| DeviceError::Internal("stored document id");
    Ok(Some(Enrolment {
        server_url,
        token,
        peer_id,
        kind: EnrolmentKind::from_code(&kind).ok_or(DeviceError::Internal("enrolment kind"))?,
        name,
        shared_doc: DocumentId::from_slice(&shared).map_err(bad)?,
        own_doc: DocumentId::from_slice(&own).map_err(bad)?,
    }))
}
