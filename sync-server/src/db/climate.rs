//! Climate volunteers' tables: the kit document, volunteer groups (one `field` document each)
//! and the groups' single-use enrolment codes. Kept in their own migration namespace so that
//! they never compete with the street-count migrations for a version number.

use carnet_shared::ids::DocumentId;
use carnet_shared::store::StoreError;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::nights::{CodeTable, EnrolRefusal, spend_code};
use super::tokens::NewToken;
use super::{DbError, document_id_from_blob, uuid_from_text};
use crate::auth::{Role, SecretHash};

const MIGRATIONS: &[&str] = &[
    // 1: the kit document (one row), groups, their enrolment codes.
    "CREATE TABLE server_climate_kit (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        document_id BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE server_climate_groups (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        document_id BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE server_climate_codes (
        code_hash BLOB PRIMARY KEY,
        group_id TEXT NOT NULL REFERENCES server_climate_groups(id),
        created_at INTEGER NOT NULL,
        used_at INTEGER,
        token_id TEXT REFERENCES server_tokens(id)
     );
     CREATE INDEX server_climate_codes_group ON server_climate_codes (group_id);",
];

pub const NAMESPACE: &str = "carnet-server.climate";
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    carnet_shared::store::migrate(conn, NAMESPACE, MIGRATIONS).map_err(|error| match error {
        StoreError::SchemaTooNew { found, .. } => DbError::SchemaTooNew {
            found,
            known: LATEST_VERSION,
        },
        other => DbError::Store(other),
    })?;
    Ok(())
}

/// The kit document, once made.
pub fn kit_document(conn: &Connection) -> Result<Option<DocumentId>, DbError> {
    conn.query_row(
        "SELECT document_id FROM server_climate_kit WHERE id = 1",
        [],
        |row| row.get::<_, Vec<u8>>(0),
    )
    .optional()?
    .map(|blob| document_id_from_blob(&blob))
    .transpose()
}

/// Records `doc` as the kit document unless one is already recorded; returns the one that is.
pub fn set_kit_document(
    conn: &Connection,
    doc: DocumentId,
    now: i64,
) -> Result<DocumentId, DbError> {
    conn.execute(
        "INSERT INTO server_climate_kit (id, document_id, created_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO NOTHING",
        params![doc.as_bytes().as_slice(), now],
    )?;
    kit_document(conn)?.ok_or(DbError::Corrupt("kit document row vanished"))
}

#[derive(Debug, Clone)]
pub struct NewGroup {
    pub id: Uuid,
    pub name: String,
    pub document_id: DocumentId,
    pub code_hashes: Vec<SecretHash>,
}

/// Creates a group and its codes; `false` if a group of that name exists (nothing created).
pub fn create_group(conn: &mut Connection, group: &NewGroup, now: i64) -> Result<bool, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let inserted = tx.execute(
        "INSERT INTO server_climate_groups (id, name, document_id, created_at)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO NOTHING",
        params![
            group.id.to_string(),
            group.name,
            group.document_id.as_bytes().as_slice(),
            now
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    for hash in &group.code_hashes {
        tx.execute(
            "INSERT INTO server_climate_codes (code_hash, group_id, created_at) VALUES (?1, ?2, ?3)",
            params![hash.as_slice(), group.id.to_string(), now],
        )?;
    }
    tx.commit()?;
    Ok(true)
}

/// Every group's id, name and field document.
pub fn groups(conn: &Connection) -> Result<Vec<(Uuid, String, DocumentId)>, DbError> {
    let mut stmt = conn
        .prepare_cached("SELECT id, name, document_id FROM server_climate_groups ORDER BY name")?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (id, name, doc) = row?;
        Ok((uuid_from_text(&id)?, name, document_id_from_blob(&doc)?))
    })
    .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolunteerEnrolment {
    pub group_id: Uuid,
    pub group_name: String,
    pub field_document: DocumentId,
    pub kit_document: DocumentId,
}

/// Spends a volunteer code: creates the device's `volunteer` token (its group's field document
/// read-write, the kit read-only) and marks the code used, atomically.
pub fn enrol_volunteer(
    conn: &mut Connection,
    code_hash: &SecretHash,
    mut token: NewToken,
) -> Result<Result<VolunteerEnrolment, EnrolRefusal>, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let row = tx
        .query_row(
            "SELECT c.used_at IS NOT NULL, g.id, g.name, g.document_id
               FROM server_climate_codes c JOIN server_climate_groups g ON g.id = c.group_id
              WHERE c.code_hash = ?1",
            params![code_hash.as_slice()],
            |row| {
                Ok((
                    row.get::<_, bool>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((used, group_id, group_name, field_doc)) = row else {
        return Ok(Err(EnrolRefusal::UnknownCode));
    };
    if used {
        return Ok(Err(EnrolRefusal::AlreadyUsed));
    }
    let kit_document =
        kit_document(&tx)?.ok_or(DbError::Corrupt("a group exists without the kit document"))?;
    let enrolment = VolunteerEnrolment {
        group_id: uuid_from_text(&group_id)?,
        group_name,
        field_document: document_id_from_blob(&field_doc)?,
        kit_document,
    };
    token.role = Role::Volunteer;
    token.night_id = None;
    token.team_id = None;
    let spent = spend_code(
        &tx,
        CodeTable::Volunteers,
        code_hash,
        &token,
        &enrolment.field_document,
        &enrolment.kit_document,
    )?;
    if !spent {
        return Ok(Err(EnrolRefusal::AlreadyUsed));
    }
    tx.commit()?;
    Ok(Ok(enrolment))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::{PeerId, TokenId};

    fn token(n: u8) -> NewToken {
        NewToken {
            id: TokenId(Uuid::from_bytes([n; 16])),
            secret_hash: [n; 32],
            role: Role::Volunteer,
            peer_id: PeerId(format!("volunteer-{n}")),
            night_id: None,
            team_id: None,
            label: None,
            created_at: 5,
            expires_at: None,
        }
    }

    #[test]
    fn a_volunteer_code_is_spent_once_and_grants_field_and_kit() {
        let db = crate::db::Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            let kit = DocumentId::from_bytes([1; 16]);
            assert_eq!(set_kit_document(c, kit, 0)?, kit);
            // A second kit document never replaces the first.
            assert_eq!(
                set_kit_document(c, DocumentId::from_bytes([9; 16]), 0)?,
                kit
            );
            let group = NewGroup {
                id: Uuid::from_u128(3),
                name: "Belleville".to_owned(),
                document_id: DocumentId::from_bytes([2; 16]),
                code_hashes: vec![[7; 32]],
            };
            assert!(create_group(c, &group, 0)?);
            assert!(!create_group(
                c,
                &NewGroup {
                    id: Uuid::from_u128(4),
                    ..group.clone()
                },
                0
            )?);
            let enrolled = enrol_volunteer(c, &[7; 32], token(1))?.unwrap();
            assert_eq!(enrolled.field_document, group.document_id);
            assert_eq!(enrolled.kit_document, kit);
            assert_eq!(
                enrol_volunteer(c, &[7; 32], token(2))?,
                Err(EnrolRefusal::AlreadyUsed)
            );
            assert_eq!(
                enrol_volunteer(c, &[8; 32], token(3))?,
                Err(EnrolRefusal::UnknownCode)
            );
            let scope = crate::db::tokens::resolve_scope(c, token(1).id, Role::Volunteer)?;
            assert!(scope.can_write(&group.document_id));
            assert!(scope.can_read(&kit) && !scope.can_write(&kit));
            Ok(())
        })
        .unwrap();
    }
}
