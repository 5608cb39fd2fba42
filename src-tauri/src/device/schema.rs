//! The app's own tables, in the same SQLite file as the document store (namespace
//! `carnet-app`). Append only: never edit a step that has shipped; add a new one.

pub const NAMESPACE: &str = "carnet-app";

pub const MIGRATIONS: &[&str] = &[
    // v1: this installation's identity, its enrolment, and the drafts being written.
    "CREATE TABLE app_identity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        device_id TEXT NOT NULL,
        actor BLOB NOT NULL CHECK (length(actor) = 16)
    ) STRICT;

    -- One enrolment per installation. The token is kept here only: never logged, never sent
    -- to the webview.
    CREATE TABLE app_enrolment (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        server_url TEXT NOT NULL,
        token TEXT NOT NULL,
        peer_id TEXT NOT NULL,
        team_name TEXT NOT NULL,
        night_doc BLOB NOT NULL CHECK (length(night_doc) = 16),
        team_doc BLOB NOT NULL CHECK (length(team_doc) = 16),
        enrolled_at INTEGER NOT NULL
    ) STRICT;

    -- Whole drafts as the UI's JSON (free text included: it never leaves the device).
    CREATE TABLE app_drafts (
        id TEXT PRIMARY KEY NOT NULL,
        draft TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;",
    // v2: climate volunteers. A volunteer's enrolment keeps its group name in `team_name`,
    // the kit document in `night_doc` (read-only) and the field document in `team_doc`
    // (read-write); `kind` says which (`team` | `volunteer`).
    "ALTER TABLE app_enrolment ADD COLUMN kind TEXT NOT NULL DEFAULT 'team'
        CHECK (kind IN ('team', 'volunteer'));",
];
