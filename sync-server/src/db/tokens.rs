//! Tokens: creation, authentication (hash lookup plus scope resolution) and revocation.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::{DbError, document_id_from_blob, uuid_from_text};
use crate::auth::{
    Access, PeerId, Principal, Role, Scope, SecretHash, TokenId, TokenSecret, hash_secret,
};

/// A token row about to be inserted. The secret itself never reaches this layer.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: TokenId,
    pub secret_hash: SecretHash,
    pub role: Role,
    pub peer_id: PeerId,
    pub night_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    /// A free label for humans (e.g. "PC HQ"); never logged.
    pub label: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

pub(crate) fn insert_token(conn: &Connection, token: &NewToken) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO server_tokens
            (id, secret_hash, role, peer_id, night_id, team_id, label, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            token.id.0.to_string(),
            token.secret_hash.as_slice(),
            token.role.as_str(),
            token.peer_id.as_str(),
            token.night_id.map(|id| id.to_string()),
            token.team_id.map(|id| id.to_string()),
            token.label,
            token.created_at,
            token.expires_at,
        ],
    )?;
    Ok(())
}

pub(crate) fn insert_grant(
    conn: &Connection,
    token: TokenId,
    document: &carnet_shared::ids::DocumentId,
    access: Access,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO server_token_scopes (token_id, document_id, access) VALUES (?1, ?2, ?3)",
        params![
            token.0.to_string(),
            document.as_bytes().as_slice(),
            access.as_str()
        ],
    )?;
    Ok(())
}

/// The caller behind a secret hash, or `None` if unknown, revoked or expired at `now`
/// (unix milliseconds).
pub fn authenticate(
    conn: &mut Connection,
    secret_hash: &SecretHash,
    now: i64,
) -> Result<Option<Principal>, DbError> {
    let row = conn
        .query_row(
            "SELECT id, role, peer_id, night_id, team_id FROM server_tokens
             WHERE secret_hash = ?1 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > ?2)",
            params![secret_hash.as_slice(), now],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((id, role, peer_id, night_id, team_id)) = row else {
        return Ok(None);
    };
    let token_id = TokenId(uuid_from_text(&id)?);
    let role = Role::parse(&role).ok_or(DbError::Corrupt("unknown role"))?;
    let scope = resolve_scope(conn, token_id, role)?;
    Ok(Some(Principal {
        token_id,
        role,
        peer_id: PeerId(peer_id),
        night_id: night_id.as_deref().map(uuid_from_text).transpose()?,
        team_id: team_id.as_deref().map(uuid_from_text).transpose()?,
        scope,
    }))
}

/// Expands a token's explicit grants and night-wide grants into a [`Scope`].
pub fn resolve_scope(conn: &Connection, token: TokenId, role: Role) -> Result<Scope, DbError> {
    let mut scope = if role == Role::Admin {
        Scope::everything(Access::ReadWrite)
    } else {
        Scope::default()
    };
    let token_text = token.0.to_string();
    let mut explicit = conn.prepare_cached(
        "SELECT document_id, access FROM server_token_scopes WHERE token_id = ?1",
    )?;
    let rows = explicit.query_map(params![token_text], |row| {
        Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (doc, access) = row?;
        scope.grant(document_id_from_blob(&doc)?, parse_access(&access)?);
    }
    let mut night_wide = conn.prepare_cached(
        "SELECT n.document_id, g.night_access FROM server_night_grants g
           JOIN server_nights n ON n.id = g.night_id WHERE g.token_id = ?1
         UNION ALL
         SELECT t.document_id, g.team_access FROM server_night_grants g
           JOIN server_teams t ON t.night_id = g.night_id WHERE g.token_id = ?1",
    )?;
    let rows = night_wide.query_map(params![token_text], |row| {
        Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (doc, access) = row?;
        scope.grant(document_id_from_blob(&doc)?, parse_access(&access)?);
    }
    Ok(scope)
}

fn parse_access(s: &str) -> Result<Access, DbError> {
    Access::parse(s).ok_or(DbError::Corrupt("unknown access"))
}

/// What the server knows about a token, for permission checks on token management.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: TokenId,
    pub role: Role,
    pub night_id: Option<Uuid>,
    pub revoked: bool,
}

pub fn token_info(conn: &Connection, id: TokenId) -> Result<Option<TokenInfo>, DbError> {
    let row = conn
        .query_row(
            "SELECT role, night_id, revoked_at IS NOT NULL FROM server_tokens WHERE id = ?1",
            params![id.0.to_string()],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, bool>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((role, night_id, revoked)) = row else {
        return Ok(None);
    };
    Ok(Some(TokenInfo {
        id,
        role: Role::parse(&role).ok_or(DbError::Corrupt("unknown role"))?,
        night_id: night_id.as_deref().map(uuid_from_text).transpose()?,
        revoked,
    }))
}

/// Marks a token revoked at `now`. Returns `false` if it was already revoked (the first
/// revocation time is kept). The caller then signals live sockets.
pub fn revoke_token(conn: &Connection, id: TokenId, now: i64) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE server_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id.0.to_string(), now],
    )?;
    Ok(changed == 1)
}

/// What closing a night did to its devices' access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NightDevicesRevoked {
    /// The team-member tokens revoked now (id, peer id), for the live revocation signal.
    pub tokens: Vec<(TokenId, PeerId)>,
    /// Unused enrolment codes of the night's teams, spent so that no device enrols again.
    pub codes_voided: usize,
}

/// Revokes at `now` every team-member token of the night that is still active and spends its
/// unused enrolment codes, atomically. Coordinator and admin tokens are left alone.
pub fn revoke_night_devices(
    conn: &mut Connection,
    night_id: Uuid,
    now: i64,
) -> Result<NightDevicesRevoked, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let night = night_id.to_string();
    let tokens = {
        let mut stmt = tx.prepare(
            "UPDATE server_tokens SET revoked_at = ?2
              WHERE night_id = ?1 AND role = 'team-member' AND revoked_at IS NULL
              RETURNING id, peer_id",
        )?;
        let rows = stmt
            .query_map(params![night, now], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, peer)| Ok((TokenId(uuid_from_text(&id)?), PeerId(peer))))
            .collect::<Result<Vec<_>, DbError>>()?
    };
    let codes_voided = tx.execute(
        "UPDATE server_enrolment_codes SET used_at = ?2
          WHERE used_at IS NULL
            AND team_id IN (SELECT id FROM server_teams WHERE night_id = ?1)",
        params![night, now],
    )?;
    // Coordinators keep reading the night, but none may write its team documents any more: a
    // copy of the old history merged back would bring the erased text back.
    tx.execute(
        "UPDATE server_night_grants SET team_access = 'read-only' WHERE night_id = ?1",
        params![night],
    )?;
    tx.commit()?;
    Ok(NightDevicesRevoked {
        tokens,
        codes_voided,
    })
}

/// Creates a coordinator token with a night-wide grant. `None` if the night does not exist.
pub fn create_coordinator_token(
    conn: &mut Connection,
    token: &NewToken,
    night_access: Access,
    team_access: Access,
) -> Result<Option<()>, DbError> {
    let Some(night_id) = token.night_id else {
        return Ok(None);
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM server_nights WHERE id = ?1)",
        params![night_id.to_string()],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(None);
    }
    insert_token(&tx, token)?;
    tx.execute(
        "INSERT INTO server_night_grants (token_id, night_id, night_access, team_access)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            token.id.0.to_string(),
            night_id.to_string(),
            night_access.as_str(),
            team_access.as_str()
        ],
    )?;
    tx.commit()?;
    Ok(Some(()))
}

/// What happened to the admin token at startup.
pub enum AdminTokenOutcome {
    /// The token given on the command line / environment was stored (first start).
    Stored,
    /// An admin token already exists and the given one (if any) is it.
    Reused,
    /// An admin token already exists and the given one differs: the stored one stays.
    IgnoredDifferent,
    /// No admin token is active and the given one was revoked before: it is not brought back
    /// to life.
    RefusedRevoked,
    /// No token was given and none existed: this one was generated and stored; show it once.
    Generated(TokenSecret),
}

/// On first start, stores the admin token (the given one, else `generated`); later starts
/// reuse the stored one. `token` carries the fresh id/peer id/time to use if one is inserted.
pub fn ensure_admin_token(
    conn: &mut Connection,
    given: Option<&str>,
    generated: TokenSecret,
    mut token: NewToken,
) -> Result<AdminTokenOutcome, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let given_hash = given.map(hash_secret);
    let active: Vec<Vec<u8>> = {
        let mut stmt = tx.prepare(
            "SELECT secret_hash FROM server_tokens WHERE role = 'admin' AND revoked_at IS NULL",
        )?;
        stmt.query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?
    };
    let outcome = match (given_hash, active.is_empty()) {
        (Some(hash), false) if active.iter().any(|h| h.as_slice() == hash.as_slice()) => {
            AdminTokenOutcome::Reused
        }
        (Some(_), false) => AdminTokenOutcome::IgnoredDifferent,
        (None, false) => AdminTokenOutcome::Reused,
        (Some(hash), true) if was_revoked(&tx, &hash)? => AdminTokenOutcome::RefusedRevoked,
        (Some(hash), true) => {
            token.secret_hash = hash;
            token.role = Role::Admin;
            insert_token(&tx, &token)?;
            AdminTokenOutcome::Stored
        }
        (None, true) => {
            token.secret_hash = generated.hash();
            token.role = Role::Admin;
            insert_token(&tx, &token)?;
            AdminTokenOutcome::Generated(generated)
        }
    };
    tx.commit()?;
    Ok(outcome)
}

fn was_revoked(conn: &Connection, hash: &SecretHash) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM server_tokens WHERE secret_hash = ?1 AND revoked_at IS NOT NULL)",
        params![hash.as_slice()],
        |row| row.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    fn admin_seed(n: u8) -> NewToken {
        NewToken {
            id: TokenId(Uuid::from_bytes([n; 16])),
            secret_hash: [0; 32],
            role: Role::Admin,
            peer_id: PeerId(format!("admin-{n}")),
            night_id: None,
            team_id: None,
            label: None,
            created_at: 1,
            expires_at: None,
        }
    }

    #[test]
    fn admin_token_is_taken_on_first_start_and_reused_later() {
        let db = Db::open_in_memory().unwrap();
        let given = "a-long-admin-token-for-tests-0123456789";
        let outcome = db
            .call_blocking(|c| {
                ensure_admin_token(c, Some(given), TokenSecret::generate(), admin_seed(1))
            })
            .unwrap();
        assert!(matches!(outcome, AdminTokenOutcome::Stored));
        let again = db
            .call_blocking(|c| {
                ensure_admin_token(c, Some(given), TokenSecret::generate(), admin_seed(2))
            })
            .unwrap();
        assert!(matches!(again, AdminTokenOutcome::Reused));
        let other = db
            .call_blocking(|c| {
                ensure_admin_token(
                    c,
                    Some("another-one"),
                    TokenSecret::generate(),
                    admin_seed(3),
                )
            })
            .unwrap();
        assert!(matches!(other, AdminTokenOutcome::IgnoredDifferent));
        let principal = db
            .call_blocking(|c| authenticate(c, &hash_secret(given), 10))
            .unwrap()
            .unwrap();
        assert_eq!(principal.role, Role::Admin);
        assert_eq!(principal.scope.all_documents(), Some(Access::ReadWrite));
        assert!(
            db.call_blocking(|c| authenticate(c, &hash_secret("another-one"), 10))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn generated_admin_token_authenticates_and_revocation_ends_it() {
        let db = Db::open_in_memory().unwrap();
        let outcome = db
            .call_blocking(|c| ensure_admin_token(c, None, TokenSecret::generate(), admin_seed(1)))
            .unwrap();
        let AdminTokenOutcome::Generated(secret) = outcome else {
            panic!("expected a generated token");
        };
        let hash = secret.hash();
        let principal = db
            .call_blocking(|c| authenticate(c, &hash, 10))
            .unwrap()
            .unwrap();
        assert!(
            db.call_blocking(|c| revoke_token(c, principal.token_id, 11))
                .unwrap()
        );
        assert!(
            !db.call_blocking(|c| revoke_token(c, principal.token_id, 12))
                .unwrap()
        );
        assert!(
            db.call_blocking(|c| authenticate(c, &hash, 13))
                .unwrap()
                .is_none()
        );
        // Restarting with the revoked token does not revive it.
        let secret_text = secret.expose().to_owned();
        let again = db
            .call_blocking(|c| {
                ensure_admin_token(
                    c,
                    Some(&secret_text),
                    TokenSecret::generate(),
                    admin_seed(2),
                )
            })
            .unwrap();
        assert!(matches!(again, AdminTokenOutcome::RefusedRevoked));
    }
}
