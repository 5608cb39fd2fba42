//! The few queries of the coordinators' routes on the server's own tables.

use carnet_shared::ids::DocumentId;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use crate::auth::SecretHash;
use crate::db::{DbError, document_id_from_blob, uuid_from_text};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRecord {
    pub id: Uuid,
    pub name: String,
    pub document_id: DocumentId,
}

fn row(id: String, name: String, doc: Vec<u8>) -> Result<TeamRecord, DbError> {
    Ok(TeamRecord {
        id: uuid_from_text(&id)?,
        name,
        document_id: document_id_from_blob(&doc)?,
    })
}

/// The night's teams, by name.
pub fn teams(conn: &Connection, night_id: Uuid) -> Result<Vec<TeamRecord>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT id, name, document_id FROM server_teams WHERE night_id = ?1 ORDER BY name, id",
    )?;
    let rows = stmt
        .query_map(params![night_id.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<Vec<(String, String, Vec<u8>)>, _>>()?;
    rows.into_iter()
        .map(|(id, name, doc)| row(id, name, doc))
        .collect()
}

/// One team, only if it belongs to `night_id`.
pub fn team(
    conn: &Connection,
    night_id: Uuid,
    team_id: Uuid,
) -> Result<Option<TeamRecord>, DbError> {
    let found = conn
        .query_row(
            "SELECT id, name, document_id FROM server_teams WHERE id = ?1 AND night_id = ?2",
            params![team_id.to_string(), night_id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    found.map(|(id, name, doc)| row(id, name, doc)).transpose()
}

/// Stores the hashes of new single-use enrolment codes for a team, all or none.
pub fn add_codes(
    conn: &mut Connection,
    team_id: Uuid,
    hashes: &[SecretHash],
    now: i64,
) -> Result<(), DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for hash in hashes {
        tx.execute(
            "INSERT INTO server_enrolment_codes (code_hash, team_id, created_at) VALUES (?1, ?2, ?3)",
            params![hash.as_slice(), team_id.to_string(), now],
        )?;
    }
    tx.commit()?;
    Ok(())
}
