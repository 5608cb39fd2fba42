//! Nights, teams and single-use enrolment codes.

use carnet_shared::ids::DocumentId;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::tokens::{NewToken, insert_grant, insert_token};
use super::{DbError, document_id_from_blob};
use crate::auth::{Access, Role, SecretHash};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NightRecord {
    pub id: Uuid,
    pub name: String,
    /// The calendar date of the count, as given by the coordinator (e.g. `2026-01-22`).
    pub night_date: Option<String>,
    pub document_id: DocumentId,
    pub created_at: i64,
}

/// Inserts a night. Its document is already in the chunk store (see `api::create_night`).
pub fn create_night(conn: &mut Connection, night: &NightRecord) -> Result<(), DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO server_nights (id, name, night_date, document_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            night.id.to_string(),
            night.name,
            night.night_date,
            night.document_id.as_bytes().as_slice(),
            night.created_at
        ],
    )?;
    tx.commit()?;
    Ok(())
}

pub fn night(conn: &Connection, id: Uuid) -> Result<Option<NightRecord>, DbError> {
    let row = conn
        .query_row(
            "SELECT name, night_date, document_id, created_at FROM server_nights WHERE id = ?1",
            params![id.to_string()],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            },
        )
        .optional()?;
    row.map(|(name, night_date, doc, created_at)| {
        Ok(NightRecord {
            id,
            name,
            night_date,
            document_id: document_id_from_blob(&doc)?,
            created_at,
        })
    })
    .transpose()
}

/// A team about to be created (its document is already in the chunk store), with the hashes
/// of its enrolment codes.
#[derive(Debug, Clone)]
pub struct NewTeam {
    pub id: Uuid,
    pub name: String,
    pub document_id: DocumentId,
    pub code_hashes: Vec<SecretHash>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum CreateTeamsOutcome {
    Created,
    NightNotFound,
    /// A team of that name already exists in the night (or twice in the request); nothing
    /// was created.
    DuplicateName,
}

/// Creates all teams of a request, or none.
pub fn create_teams(
    conn: &mut Connection,
    night_id: Uuid,
    teams: &[NewTeam],
    now: i64,
) -> Result<CreateTeamsOutcome, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let night = night_id.to_string();
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM server_nights WHERE id = ?1)",
        params![night],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(CreateTeamsOutcome::NightNotFound);
    }
    for team in teams {
        let inserted = tx.execute(
            "INSERT INTO server_teams (id, night_id, name, document_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (night_id, name) DO NOTHING",
            params![
                team.id.to_string(),
                night,
                team.name,
                team.document_id.as_bytes().as_slice(),
                now
            ],
        )?;
        if inserted == 0 {
            // Dropping `tx` rolls back the teams inserted so far.
            return Ok(CreateTeamsOutcome::DuplicateName);
        }
        for hash in &team.code_hashes {
            tx.execute(
                "INSERT INTO server_enrolment_codes (code_hash, team_id, created_at)
                 VALUES (?1, ?2, ?3)",
                params![hash.as_slice(), team.id.to_string(), now],
            )?;
        }
    }
    tx.commit()?;
    Ok(CreateTeamsOutcome::Created)
}

/// What an enrolled device may sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub night_id: Uuid,
    pub team_id: Uuid,
    pub team_name: String,
    pub night_document: DocumentId,
    pub team_document: DocumentId,
}

#[derive(Debug, PartialEq, Eq)]
pub enum EnrolRefusal {
    UnknownCode,
    AlreadyUsed,
}

/// Spends an enrolment code: creates the device's token (team document read-write, night
/// document read-only) and marks the code used, atomically. A used code changes nothing.
pub fn enrol(
    conn: &mut Connection,
    code_hash: &SecretHash,
    mut token: NewToken,
) -> Result<Result<Enrolment, EnrolRefusal>, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let row = tx
        .query_row(
            "SELECT c.used_at IS NOT NULL, t.id, t.name, t.document_id, n.id, n.document_id
               FROM server_enrolment_codes c
               JOIN server_teams t ON t.id = c.team_id
               JOIN server_nights n ON n.id = t.night_id
              WHERE c.code_hash = ?1",
            params![code_hash.as_slice()],
            |row| {
                Ok((
                    row.get::<_, bool>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Vec<u8>>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((used, team_id, team_name, team_doc, night_id, night_doc)) = row else {
        return Ok(Err(EnrolRefusal::UnknownCode));
    };
    if used {
        return Ok(Err(EnrolRefusal::AlreadyUsed));
    }
    let enrolment = Enrolment {
        night_id: super::uuid_from_text(&night_id)?,
        team_id: super::uuid_from_text(&team_id)?,
        team_name,
        night_document: document_id_from_blob(&night_doc)?,
        team_document: document_id_from_blob(&team_doc)?,
    };
    token.role = Role::TeamMember;
    token.night_id = Some(enrolment.night_id);
    token.team_id = Some(enrolment.team_id);
    let spent = spend_code(
        &tx,
        CodeTable::Teams,
        code_hash,
        &token,
        &enrolment.team_document,
        &enrolment.night_document,
    )?;
    if !spent {
        return Ok(Err(EnrolRefusal::AlreadyUsed));
    }
    tx.commit()?;
    Ok(Ok(enrolment))
}

/// The tables of single-use codes (team devices, climate volunteers).
#[derive(Clone, Copy)]
pub(super) enum CodeTable {
    Teams,
    Volunteers,
}

/// Inside the caller's transaction: creates the device's token with its own document
/// read-write and the shared one read-only, then spends the code. Returns `false` if the code
/// was spent meanwhile (the caller then drops the transaction: nothing is kept).
pub(super) fn spend_code(
    tx: &rusqlite::Transaction<'_>,
    table: CodeTable,
    code_hash: &SecretHash,
    token: &NewToken,
    own_document: &DocumentId,
    shared_document: &DocumentId,
) -> Result<bool, DbError> {
    insert_token(tx, token)?;
    insert_grant(tx, token.id, own_document, Access::ReadWrite)?;
    insert_grant(tx, token.id, shared_document, Access::ReadOnly)?;
    // The `used_at IS NULL` guard makes the spend itself conditional, so even a second
    // connection to the file (outside this mutex) cannot spend a code twice.
    let sql = match table {
        CodeTable::Teams => {
            "UPDATE server_enrolment_codes SET used_at = ?2, token_id = ?3
              WHERE code_hash = ?1 AND used_at IS NULL"
        }
        CodeTable::Volunteers => {
            "UPDATE server_climate_codes SET used_at = ?2, token_id = ?3
              WHERE code_hash = ?1 AND used_at IS NULL"
        }
    };
    let spent = tx.execute(
        sql,
        params![
            code_hash.as_slice(),
            token.created_at,
            token.id.0.to_string()
        ],
    )?;
    Ok(spent == 1)
}
