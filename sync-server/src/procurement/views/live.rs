//! The views while an import runs. `carnet-server procurement import` writes the server's
//! file from its own process, one transaction per batch; each batch makes the derived data
//! (red flags, summaries, stored pages) stale. A request that refreshed it then held the
//! writer for minutes at 1M contracts (~363 CPU s), the importer's next batch waited, the
//! next request refreshed again: the import was starved and visitors waited.
//!
//! Now, while a run is alive (status `running`, heartbeat stamped by its last committed
//! batch younger than [`HEARTBEAT_TIMEOUT`], or its process holding the write lock in its
//! final transaction), requests never start a refresh: they serve the derived data of the
//! last refresh ([`Derived::LastRefresh`]) and say so ([`ImportNotice`]). The run's end
//! and the new derived data commit together (the CLI refreshes in the transaction that
//! marks the run done), so the notice disappears with the fresh figures. A run that
//! stopped beating and holds no lock is dead: the next request marks it failed and
//! refreshes, as after a failed import. The time is always passed in.

use axum::http::header;
use rusqlite::{Connection, ErrorCode};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use super::schema::{self, Derived};
use super::summary::SummaryError;
use crate::procurement::db;

/// A `running` run whose last heartbeat is older than this (and that holds no write lock)
/// is dead. Batches commit every fraction of a second to a few seconds even at 1M.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::minutes(5);

/// What the views say while an import runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportNotice {
    /// When the live run started, as recorded (RFC 3339).
    pub since: String,
    /// When the import run the last refresh reflects finished, as recorded, if any.
    pub data_of: Option<String>,
    /// Whether a complete refresh by this build exists (else every figure is computed from
    /// the data being imported).
    pub previous: bool,
    since_fr: String,
    data_of_fr: Option<String>,
}

impl ImportNotice {
    /// The French sentence shown on a page: `summaries` when the page comes from the last
    /// refresh's derived data (unfiltered views), else computed from the data as it is now.
    pub fn message(&self, summaries: bool) -> String {
        let head = format!("Mise à jour des données en cours depuis {}", self.since_fr);
        let previous = match &self.data_of_fr {
            Some(when) => format!("du dernier import terminé, {when}"),
            None => "de la dernière mise à jour terminée".to_string(),
        };
        if !self.previous {
            format!(
                "{head} : les chiffres portent sur les données déjà importées et changeront \
                 d'ici la fin de l'import."
            )
        } else if summaries {
            format!("{head} : les chiffres sont ceux {previous}.")
        } else {
            format!(
                "{head} : cette page est calculée sur les données déjà importées, qui \
                 changeront d'ici la fin de l'import ; les alertes sont celles {previous}."
            )
        }
    }
}

/// How a request serves the views, decided once per request from the data and `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// The derived data matches the data: served as is.
    Current(String),
    /// An import run is alive: the last refresh's derived data, with the notice. `version`
    /// is the data's (cache keys).
    Importing {
        version: String,
        notice: ImportNotice,
    },
    /// No live run and the derived data does not match: refresh first ([`refresh_at`]).
    Stale,
}

impl Basis {
    /// Which derived data the readers may use.
    pub fn derived(&self) -> Derived {
        match self {
            Basis::Importing { .. } => Derived::LastRefresh,
            _ => Derived::Matching,
        }
    }
}

struct Run {
    id: i64,
    started_at: String,
    heartbeat_at: String,
}

fn running_runs(conn: &Connection) -> rusqlite::Result<Vec<Run>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, started_at, COALESCE(heartbeat_at, started_at) FROM procurement_import_runs
         WHERE status = 'running' ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Run {
            id: r.get(0)?,
            started_at: r.get(1)?,
            heartbeat_at: r.get(2)?,
        })
    })?;
    rows.collect()
}

fn parse(t: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(t, &Rfc3339).ok()
}

/// A heartbeat younger than the timeout (or from a clock ahead of ours) is a sign of life;
/// an unreadable one is none.
fn beating(run: &Run, now: OffsetDateTime) -> bool {
    parse(&run.heartbeat_at).is_some_and(|hb| hb + HEARTBEAT_TIMEOUT > now)
}

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// `14 h 02 (UTC)`, or `le 5 décembre 2026 à 14 h 02 (UTC)` unless `same_day_as` is the
/// same day; in the time's own offset. An unreadable time is shown as recorded.
fn french_time(recorded: &str, same_day_as: Option<OffsetDateTime>) -> String {
    let Some(t) = parse(recorded) else {
        return recorded.to_string();
    };
    let zone = if t.offset() == UtcOffset::UTC {
        "UTC".to_string()
    } else {
        let (h, m, _) = t.offset().as_hms();
        format!(
            "UTC{}{:02}:{:02}",
            if h < 0 || m < 0 { '-' } else { '+' },
            h.abs(),
            m.abs()
        )
    };
    let clock = format!("{} h {:02} ({zone})", t.hour(), t.minute());
    match same_day_as {
        Some(now) if now.to_offset(t.offset()).date() == t.date() => clock,
        _ => format!(
            "le {} {} {} à {clock}",
            t.day(),
            MONTHS[usize::from(u8::from(t.month())) - 1],
            t.year()
        ),
    }
}

fn notice(conn: &Connection, run: &Run, now: OffsetDateTime) -> rusqlite::Result<ImportNotice> {
    let data_of = schema::last_refresh_run_finished(conn)?;
    Ok(ImportNotice {
        since_fr: french_time(&run.started_at, Some(now)),
        data_of_fr: data_of.as_deref().map(|t| french_time(t, None)),
        since: run.started_at.clone(),
        data_of,
        previous: schema::last_refresh(conn)?.is_some(),
    })
}

/// How to serve the views now (read-only).
pub fn basis(conn: &Connection, now: OffsetDateTime) -> rusqlite::Result<Basis> {
    if let Some(run) = running_runs(conn)?.iter().find(|r| beating(r, now)) {
        return Ok(Basis::Importing {
            version: schema::data_version(conn)?,
            notice: notice(conn, run, now)?,
        });
    }
    Ok(match schema::current(conn)? {
        Some(version) => Basis::Current(version),
        None => Basis::Stale,
    })
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == ErrorCode::DatabaseBusy || f.code == ErrorCode::DatabaseLocked)
}

/// [`basis`], refreshing the derived data first when it is stale and no import is alive
/// (on the writer connection): never returns [`Basis::Stale`]. Runs still marked `running`
/// but dead are marked failed in the refresh's transaction. A run marked `running` whose
/// process holds the write lock (its last step, the views' refresh, has no heartbeat) is
/// alive: not waited for, served with the notice.
pub fn refresh_at(conn: &Connection, now: OffsetDateTime) -> Result<Basis, SummaryError> {
    let found = basis(conn, now)?;
    if found != Basis::Stale {
        return Ok(found);
    }
    let unfinished = running_runs(conn)?;
    // The notice names the most recently alive run (an older one may be long dead).
    if let Some(run) = unfinished
        .iter()
        .max_by(|a, b| a.heartbeat_at.cmp(&b.heartbeat_at))
    {
        conn.busy_timeout(std::time::Duration::ZERO)?;
        let begun = conn.execute_batch("BEGIN IMMEDIATE");
        conn.busy_timeout(db::BUSY_TIMEOUT)?;
        match begun {
            Ok(()) => {}
            Err(e) if is_busy(&e) => {
                return Ok(Basis::Importing {
                    version: schema::data_version(conn)?,
                    notice: notice(conn, run, now)?,
                });
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        // Two requests racing after an import compute once: the second waits, then finds
        // the derived data current.
        conn.execute_batch("BEGIN IMMEDIATE")?;
    }
    schema::in_transaction(conn, |conn| {
        // Again under the lock: a batch or another refresh may have committed since.
        let found = basis(conn, now)?;
        if found != Basis::Stale {
            return Ok(found);
        }
        for run in running_runs(conn)?.iter().filter(|r| !beating(r, now)) {
            conn.execute(
                "UPDATE procurement_import_runs SET status = 'failed',
                    error = 'interrompu : aucun signe de vie depuis ' || ?2
                 WHERE id = ?1 AND status = 'running'",
                rusqlite::params![run.id, run.heartbeat_at],
            )?;
        }
        Ok(Basis::Current(schema::refresh_within(conn)?))
    })
}

/// Where the notice goes in every HTML page (`templates/layout.html`).
const NOTICE_MARK: &str = "<!--carnet:avis-->";

/// Adds the import notice to a response: a paragraph in HTML, a field in JSON, headers in
/// every format (CSV has no other place).
pub(super) fn with_notice(
    body: String,
    format: super::Format,
    notice: Option<(&ImportNotice, String)>,
) -> (Vec<(header::HeaderName, String)>, String) {
    let Some((notice, message)) = notice else {
        return (Vec::new(), body);
    };
    let mut headers = vec![(
        header::HeaderName::from_static("x-carnet-import-en-cours"),
        notice.since.clone(),
    )];
    if let Some(of) = &notice.data_of {
        headers.push((
            header::HeaderName::from_static("x-carnet-donnees-du"),
            of.clone(),
        ));
    }
    let body = match format {
        super::Format::Html => body.replacen(
            NOTICE_MARK,
            &format!(
                "<p class=\"notice\" role=\"status\">{}</p>",
                super::chart::escape(&message)
            ),
            1,
        ),
        super::Format::Json => match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.insert(
                    "mise_a_jour_en_cours".to_string(),
                    serde_json::json!({
                        "depuis": notice.since,
                        "donnees_du": notice.data_of,
                        "message": message,
                    }),
                );
                serde_json::Value::Object(map).to_string()
            }
            _ => body,
        },
        super::Format::Csv => body,
    };
    (headers, body)
}

/// Headers as a response part; a value that is not a valid header (a run log written by
/// hand) is left out rather than failing the page.
pub(super) fn header_map(headers: Vec<(header::HeaderName, String)>) -> axum::http::HeaderMap {
    let mut map = axum::http::HeaderMap::new();
    for (name, value) in headers {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            map.insert(name, value);
        }
    }
    map
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn at(t: &str) -> OffsetDateTime {
        parse(t).unwrap()
    }

    #[test]
    fn times_read_in_french_in_their_own_offset() {
        let now = at("2026-12-06T15:00:00Z");
        assert_eq!(
            french_time("2026-12-06T14:02:09.5Z", Some(now)),
            "14 h 02 (UTC)"
        );
        assert_eq!(
            french_time("2026-12-05T03:10:00Z", Some(now)),
            "le 5 décembre 2026 à 3 h 10 (UTC)"
        );
        assert_eq!(
            french_time("2026-08-01T09:05:00+02:00", None),
            "le 1 août 2026 à 9 h 05 (UTC+02:00)"
        );
        assert_eq!(french_time("t", Some(now)), "t");
    }

    #[test]
    fn a_heartbeat_is_a_sign_of_life_for_the_timeout_only() {
        let run = |hb: &str| Run {
            id: 1,
            started_at: "2026-12-06T14:00:00Z".into(),
            heartbeat_at: hb.into(),
        };
        let now = at("2026-12-06T15:00:00Z");
        assert!(beating(&run("2026-12-06T14:55:01Z"), now));
        assert!(!beating(&run("2026-12-06T14:55:00Z"), now));
        assert!(beating(&run("2026-12-06T15:01:00Z"), now), "a clock ahead");
        assert!(!beating(&run("not a time"), now));
    }

    #[test]
    fn the_notice_goes_in_the_html_mark_the_json_and_the_headers() {
        let notice = ImportNotice {
            since: "2026-12-06T14:02:00Z".into(),
            data_of: None,
            previous: true,
            since_fr: "<14 h 02>".into(),
            data_of_fr: None,
        };
        let message = notice.message(true);
        let html = format!("<main>\n{NOTICE_MARK}\n<h1>x</h1>");
        let (headers, body) = with_notice(
            html.clone(),
            super::super::Format::Html,
            Some((&notice, message.clone())),
        );
        assert!(body.contains("<p class=\"notice\" role=\"status\">Mise à jour des données en cours depuis &lt;14 h 02&gt;"), "{body}");
        assert!(!body.contains(NOTICE_MARK));
        assert_eq!(headers.len(), 1, "no end time to give");
        assert_eq!(headers[0].1, "2026-12-06T14:02:00Z");
        let (_, body) = with_notice(
            "{\"view\":\"synthese\"}".into(),
            super::super::Format::Json,
            Some((&notice, message)),
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["view"], "synthese");
        assert_eq!(v["mise_a_jour_en_cours"]["depuis"], "2026-12-06T14:02:00Z");
        assert!(v["mise_a_jour_en_cours"]["donnees_du"].is_null());
        // Without an import, the page is left as it is.
        let (headers, body) = with_notice(html.clone(), super::super::Format::Html, None);
        assert!(headers.is_empty());
        assert_eq!(body, html);
    }

    #[test]
    fn the_notice_says_where_the_figures_come_from() {
        let notice = ImportNotice {
            since: "2026-12-06T14:02:00Z".into(),
            data_of: Some("2026-12-05T03:10:00Z".into()),
            previous: true,
            since_fr: "14 h 02 (UTC)".into(),
            data_of_fr: Some("le 5 décembre 2026 à 3 h 10 (UTC)".into()),
        };
        assert_eq!(
            notice.message(true),
            "Mise à jour des données en cours depuis 14 h 02 (UTC) : les chiffres sont ceux \
             du dernier import terminé, le 5 décembre 2026 à 3 h 10 (UTC)."
        );
        assert!(
            notice
                .message(false)
                .contains("calculée sur les données déjà importées")
        );
        let first = ImportNotice {
            previous: false,
            ..notice
        };
        assert!(!first.message(true).contains("dernier import terminé"));
    }
}
