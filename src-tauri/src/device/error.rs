//! Errors of the app state, and their shape on the IPC boundary: `{code, message, issues?}` with
//! the codes of `ui/src/backend.ts`. Messages are English for developers and never carry
//! answers, free text, tokens or document content.

use serde::Serialize;
use serde::ser::SerializeStruct;

use carnet_shared::doc::DocError;
use carnet_shared::net::NetError;
use carnet_shared::store::StoreError;

/// The error codes the UI words (`BACKEND_ERROR_CODES` in `ui/src/backend.ts`, minus `ipc`,
/// which only the UI makes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    NotEnrolled,
    InvalidServerUrl,
    ServerUnreachable,
    InvalidEnrolmentCode,
    EnrolmentCodeUsed,
    EnrolmentPending,
    InvalidInput,
    InvalidEncounter,
    NotFound,
    RoundClosed,
    NoOpenRound,
    RoundAlreadyOpen,
    Storage,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("device not enrolled")]
    NotEnrolled,
    #[error("server URL is not an http(s) URL")]
    InvalidServerUrl,
    #[error("server unreachable")]
    ServerUnreachable,
    /// Enrolled, but the team or night document has not arrived from the server (yet).
    #[error("the team documents have not arrived from the server")]
    DocumentsMissing,
    /// Enrolment is saved (the code is spent, the sync client keeps trying) but its documents
    /// did not arrive in the time the enrolment screen waits. Not a failure to retry: the UI
    /// shows the waiting state until they arrive.
    #[error("enrolled; the documents have not arrived from the server yet")]
    EnrolmentPending,
    #[error("unknown enrolment code")]
    InvalidEnrolmentCode,
    #[error("enrolment code already used")]
    EnrolmentCodeUsed,
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// Issue codes: `missing:<field>` for a required field left empty, else the Rust
    /// `EncounterIssue` codes (`noPeople`, `countsContradictSituation`…).
    #[error("encounter is incomplete or inconsistent")]
    InvalidEncounter(Vec<String>),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("the round of this encounter is closed")]
    RoundClosed,
    #[error("no open round")]
    NoOpenRound,
    #[error("a round is already open")]
    RoundAlreadyOpen,
    #[error("local storage: {0}")]
    Storage(#[from] StoreError),
    #[error("local database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("document: {0}")]
    Document(#[from] DocError),
    #[error("sync client: {0}")]
    Sync(#[from] NetError),
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl DeviceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotEnrolled => ErrorCode::NotEnrolled,
            Self::InvalidServerUrl => ErrorCode::InvalidServerUrl,
            Self::ServerUnreachable | Self::DocumentsMissing => ErrorCode::ServerUnreachable,
            Self::InvalidEnrolmentCode => ErrorCode::InvalidEnrolmentCode,
            Self::EnrolmentCodeUsed => ErrorCode::EnrolmentCodeUsed,
            Self::EnrolmentPending => ErrorCode::EnrolmentPending,
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::InvalidEncounter(_) => ErrorCode::InvalidEncounter,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::RoundClosed => ErrorCode::RoundClosed,
            Self::NoOpenRound => ErrorCode::NoOpenRound,
            Self::RoundAlreadyOpen => ErrorCode::RoundAlreadyOpen,
            Self::Storage(_) | Self::Sqlite(_) => ErrorCode::Storage,
            Self::Sync(NetError::Store(_) | NetError::StoreUnavailable) => ErrorCode::Storage,
            Self::Sync(_) => ErrorCode::Internal,
            Self::Document(DocError::NoSuchEncounter(_) | DocError::NoSuchRound(_)) => {
                ErrorCode::NotFound
            }
            Self::Document(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The message that crosses IPC. Store and SQLite errors are summarised: their text may
    /// name rows or documents, which the webview has no use for.
    fn public_message(&self) -> String {
        match self {
            Self::Storage(_) | Self::Sqlite(_) => "local storage error".to_owned(),
            Self::Sync(NetError::Store(_) | NetError::StoreUnavailable) => {
                "local storage error".to_owned()
            }
            Self::Sync(_) => "sync client error".to_owned(),
            Self::Document(_) => "team document error".to_owned(),
            other => other.to_string(),
        }
    }
}

/// `{code, message, issues?}`, as `BackendError` in `ui/src/backend.ts`.
impl Serialize for DeviceError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let issues = match self {
            Self::InvalidEncounter(issues) => Some(issues),
            _ => None,
        };
        let mut st = s.serialize_struct("BackendError", 2 + usize::from(issues.is_some()))?;
        st.serialize_field("code", &self.code())?;
        st.serialize_field("message", &self.public_message())?;
        if let Some(issues) = issues {
            st.serialize_field("issues", issues)?;
        }
        st.end()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_ipc_as_code_message_issues() {
        let e = DeviceError::InvalidEncounter(vec!["noPeople".into(), "missing:spaceType".into()]);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "invalidEncounter");
        assert_eq!(v["issues"][1], "missing:spaceType");
        let v = serde_json::to_value(DeviceError::RoundClosed).unwrap();
        assert_eq!(v["code"], "roundClosed");
        assert!(v.get("issues").is_none());
        assert!(v["message"].is_string());
    }

    #[test]
    fn storage_errors_do_not_leak_their_text() {
        let e = DeviceError::Sqlite(rusqlite::Error::InvalidColumnName("secret".into()));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "storage");
        assert!(!v["message"].as_str().unwrap().contains("secret"));
    }
}
