//! Who is calling and what they may touch: roles, per-document scopes, bearer secrets and
//! enrolment codes.
//!
//! Secrets (tokens and enrolment codes) are shown once and only their SHA-256 is stored, so a
//! stolen database does not hand out live credentials. Lookup is by hash, which is why no
//! constant-time comparison is needed. Nothing here logs or formats a secret.

use std::collections::BTreeMap;
use std::fmt;

use axum::extract::{FromRequestParts, Query};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use carnet_shared::ids::DocumentId;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;

/// What a token is for. Stored as its `as_str()` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    Coordinator,
    /// A device enrolled into a street-count team.
    TeamMember,
    Volunteer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::TeamMember => "team-member",
            Role::Volunteer => "volunteer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "coordinator" => Some(Role::Coordinator),
            "team-member" => Some(Role::TeamMember),
            "volunteer" => Some(Role::Volunteer),
            _ => None,
        }
    }

    /// The prefix of the peer id the server binds to tokens of this role.
    fn peer_prefix(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::TeamMember => "device",
            Role::Volunteer => "volunteer",
        }
    }
}

/// Access to one document. Read-only scopes never apply incoming changes (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ReadOnly => "read-only",
            Access::ReadWrite => "read-write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read-only" => Some(Access::ReadOnly),
            "read-write" => Some(Access::ReadWrite),
            _ => None,
        }
    }

    pub fn can_write(self) -> bool {
        self == Access::ReadWrite
    }
}

/// The documents a token may sync, resolved when the token is authenticated.
///
/// A coordinator's night-wide grant is expanded to the night's documents at that moment: a
/// team created later is visible to a coordinator's socket after it reconnects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Access to every document (the admin token).
    all: Option<Access>,
    documents: BTreeMap<DocumentId, Access>,
}

impl Scope {
    pub fn everything(access: Access) -> Self {
        Self {
            all: Some(access),
            documents: BTreeMap::new(),
        }
    }

    /// Adds a grant; two grants on one document keep the wider one.
    pub fn grant(&mut self, document: DocumentId, access: Access) {
        let entry = self.documents.entry(document).or_insert(access);
        *entry = (*entry).max(access);
    }

    /// `None`: the document is outside the scope (the sync layer answers `doc-unavailable`,
    /// exactly as for an unknown document).
    pub fn access(&self, document: &DocumentId) -> Option<Access> {
        let explicit = self.documents.get(document).copied();
        match (self.all, explicit) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn can_read(&self, document: &DocumentId) -> bool {
        self.access(document).is_some()
    }

    pub fn can_write(&self, document: &DocumentId) -> bool {
        self.access(document).is_some_and(Access::can_write)
    }

    /// Access granted to all documents, if any.
    pub fn all_documents(&self) -> Option<Access> {
        self.all
    }

    /// The explicit per-document grants, in document order.
    pub fn documents(&self) -> impl Iterator<Item = (DocumentId, Access)> + '_ {
        self.documents.iter().map(|(d, a)| (*d, *a))
    }
}

/// A token's public id (used in URLs such as `/api/tokens/{id}/revoke`). Not a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenId(pub Uuid);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The automerge-repo peer id the server binds to a token; the protocol's self-asserted
/// `senderId` is checked against it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub String);

impl PeerId {
    /// A fresh peer id for a token of `role`, e.g. `device-<uuid>`.
    pub fn for_role(role: Role, random: [u8; 16]) -> Self {
        let id = uuid::Builder::from_random_bytes(random).into_uuid();
        Self(format!("{}-{id}", role.peer_prefix()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 of a secret, the only form stored.
pub type SecretHash = [u8; 32];

pub fn hash_secret(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// A bearer secret, freshly made. Deliberately not `Debug`/`Display`: it is serialised once
/// into the response that shows it, and nowhere else.
pub struct TokenSecret(String);

impl TokenSecret {
    /// Prefix that makes Carnet tokens recognisable by secret scanners.
    pub const PREFIX: &'static str = "carnet_";

    /// 256 random bits, hex-encoded.
    pub fn from_random(bytes: [u8; 32]) -> Self {
        Self(format!("{}{}", Self::PREFIX, hex::encode(bytes)))
    }

    pub fn generate() -> Self {
        Self::from_random(rand::rng().random())
    }

    pub fn hash(&self) -> SecretHash {
        hash_secret(&self.0)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_exposed(self) -> String {
        self.0
    }
}

/// Crockford's base32 alphabet: no I, L, O, U, so codes read aloud or copied from paper
/// survive; 10 characters carry 50 bits.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const ENROLMENT_CODE_LEN: usize = 10;

/// A single-use enrolment code as handed to a team, e.g. `7KQ2M-XR4TD`.
pub struct EnrolmentCode(String);

impl EnrolmentCode {
    /// Each input byte picks one character (its low 5 bits: uniform, as 32 divides 256).
    pub fn from_random(bytes: [u8; ENROLMENT_CODE_LEN]) -> Self {
        let chars: String = bytes
            .iter()
            .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
            .collect();
        Self(chars)
    }

    pub fn generate() -> Self {
        Self::from_random(rand::rng().random())
    }

    /// Grouped for reading aloud: `XXXXX-XXXXX`.
    pub fn display_form(&self) -> String {
        let (a, b) = self.0.split_at(ENROLMENT_CODE_LEN / 2);
        format!("{a}-{b}")
    }

    pub fn hash(&self) -> SecretHash {
        hash_secret(&self.0)
    }

    /// Normalises what a person typed: case, spaces and dashes are ignored, and the letters
    /// Crockford maps onto digits (O -> 0, I/L -> 1) are accepted. `None` if it cannot be a
    /// code at all.
    pub fn parse_typed(typed: &str) -> Option<Self> {
        let mut out = String::with_capacity(ENROLMENT_CODE_LEN);
        for c in typed.chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !CODE_ALPHABET.contains(&(c as u8)) {
                return None;
            }
            out.push(c);
        }
        (out.len() == ENROLMENT_CODE_LEN).then_some(Self(out))
    }
}

/// An authenticated caller: the token's identity, role, bound peer id and scope.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: TokenId,
    pub role: Role,
    pub peer_id: PeerId,
    /// The night a coordinator or team member belongs to.
    pub night_id: Option<Uuid>,
    /// The team a team member's device is enrolled into.
    pub team_id: Option<Uuid>,
    pub scope: Scope,
}

impl Principal {
    pub fn require_role(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The bearer secret of a request: `Authorization: Bearer …`, else the `token` query
/// parameter (browser WebSocket clients cannot set headers).
pub fn bearer_secret(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, secret) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| secret.trim().to_owned());
    }
    Query::<TokenQuery>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|q| q.0.token)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = bearer_secret(parts).ok_or_else(ApiError::unauthorized)?;
        let hash = hash_secret(&secret);
        let now = state.now();
        state
            .db
            .call(move |conn| crate::db::tokens::authenticate(conn, &hash, now))
            .await?
            .ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrolment_code_survives_what_people_type() {
        let code = EnrolmentCode::from_random([0, 1, 2, 3, 31, 30, 29, 18, 19, 20]);
        let shown = code.display_form();
        assert_eq!(shown.len(), ENROLMENT_CODE_LEN + 1);
        let typed = shown.to_lowercase().replace('-', " ");
        let parsed = EnrolmentCode::parse_typed(&typed).unwrap();
        assert_eq!(parsed.hash(), code.hash());
        // O and I are read as 0 and 1.
        let with_letters = shown.replace('0', "o").replace('1', "I");
        assert_eq!(
            EnrolmentCode::parse_typed(&with_letters).unwrap().hash(),
            code.hash()
        );
    }

    #[test]
    fn enrolment_code_rejects_wrong_length_and_foreign_letters() {
        assert!(EnrolmentCode::parse_typed("ABCDE").is_none());
        assert!(EnrolmentCode::parse_typed("ABCDE-FGHJKM").is_none());
        assert!(EnrolmentCode::parse_typed("ABCDE-FGHJU").is_none());
        assert!(EnrolmentCode::parse_typed("ABCDÉ-FGHJK").is_none());
    }

    #[test]
    fn scope_keeps_the_wider_grant_and_hides_the_rest() {
        let a = DocumentId::from_bytes([1; 16]);
        let b = DocumentId::from_bytes([2; 16]);
        let mut scope = Scope::default();
        scope.grant(a, Access::ReadOnly);
        scope.grant(a, Access::ReadWrite);
        scope.grant(a, Access::ReadOnly);
        assert_eq!(scope.access(&a), Some(Access::ReadWrite));
        assert!(!scope.can_read(&b));
        let admin = Scope::everything(Access::ReadWrite);
        assert!(admin.can_write(&b));
    }

    proptest::proptest! {
        #[test]
        fn a_code_typed_in_any_case_with_spaces_and_dashes_parses_back(
            bytes in proptest::prelude::any::<[u8; ENROLMENT_CODE_LEN]>(),
            lower in proptest::collection::vec(proptest::prelude::any::<bool>(), ENROLMENT_CODE_LEN + 1),
            separators in proptest::collection::vec(0usize..3, ENROLMENT_CODE_LEN + 1),
        ) {
            let code = EnrolmentCode::from_random(bytes);
            let typed: String = code
                .display_form()
                .chars()
                .zip(lower.iter().zip(&separators))
                .map(|(c, (&lower, &sep))| {
                    let c = if lower { c.to_ascii_lowercase() } else { c };
                    format!("{c}{}", ["", " ", "-"][sep])
                })
                .collect();
            let parsed = EnrolmentCode::parse_typed(&typed);
            proptest::prop_assert!(parsed.is_some());
            proptest::prop_assert_eq!(parsed.map(|p| p.hash()), Some(code.hash()));
        }

        #[test]
        fn parsing_any_text_never_panics_and_yields_a_canonical_code(text in "\\PC{0,40}") {
            if let Some(code) = EnrolmentCode::parse_typed(&text) {
                proptest::prop_assert_eq!(code.0.len(), ENROLMENT_CODE_LEN);
                proptest::prop_assert!(code.0.bytes().all(|b| CODE_ALPHABET.contains(&b)));
            }
        }
    }

    #[test]
    fn token_secrets_are_distinct_and_prefixed() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert!(a.expose().starts_with(TokenSecret::PREFIX));
        assert_eq!(a.expose().len(), TokenSecret::PREFIX.len() + 64);
        assert_ne!(a.hash(), b.hash());
    }
}
