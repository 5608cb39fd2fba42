//! The documents the API creates for a new night and its teams, built with the shared model
//! (`carnet_shared::doc`), so that devices and coordinators read them with the same code.
//! They are stored in the shared chunk store by the sync actor ([`crate::sync::SyncHub`]).

use automerge::{ActorId, AutoCommit, Automerge};
use carnet_shared::doc::{self, DocError};
use carnet_shared::model::{Millis, NightHeader, TeamHeader, TeamId};
use uuid::Uuid;

/// A fresh random actor for one server-side change (API edits, new documents, a replaced
/// history): never an actor a device uses, and never one shared by two requests' edits.
pub fn server_actor() -> ActorId {
    use rand::RngExt as _;
    ActorId::from(rand::rng().random::<[u8; 16]>())
}

/// A new night document (header, empty sectors and team index). `actor` is random, drawn by
/// the caller for this document; `now` is unix milliseconds.
pub fn night_document(
    actor: [u8; 16],
    night_id: Uuid,
    label: &str,
    date: &str,
    now: Millis,
) -> Result<Automerge, DocError> {
    let mut night = doc::new_doc(ActorId::from(actor));
    doc::create_night(
        &mut night,
        &NightHeader {
            id: night_id,
            date: date.to_owned(),
            label: label.to_owned(),
        },
        now,
    )?;
    Ok(into_automerge(night))
}

/// A new team document (header, empty maps, every tally counter at zero).
pub fn team_document(
    actor: [u8; 16],
    night_id: Uuid,
    team_id: Uuid,
    name: &str,
    now: Millis,
) -> Result<Automerge, DocError> {
    let mut team = doc::new_doc(ActorId::from(actor));
    doc::create_team(
        &mut team,
        &TeamHeader {
            team_id: team_id_of(team_id),
            night_id,
            name: name.to_owned(),
            sectors: Default::default(),
        },
        now,
    )?;
    Ok(into_automerge(team))
}

/// The model's team id for a server team (its UUID, hyphenated).
pub fn team_id_of(team_id: Uuid) -> TeamId {
    TeamId(team_id.to_string())
}

fn into_automerge(mut doc: AutoCommit) -> Automerge {
    doc.document().clone()
}

/// The UTC calendar date (`YYYY-MM-DD`) of a unix-milliseconds instant: the night's date when
/// the coordinator gives none.
pub fn utc_date(now: Millis) -> String {
    // Howard Hinnant's civil-from-days.
    let days = now.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn team_document_is_read_back_by_the_shared_model() {
        let night = Uuid::from_bytes([1; 16]);
        let team = Uuid::from_bytes([2; 16]);
        let data = team_document([3; 16], night, team, "Équipe 12", 1_700_000_000_000).unwrap();
        let read = doc::read_team(&data).unwrap();
        assert_eq!(read.header.name, "Équipe 12");
        assert_eq!(read.header.night_id, night);
        assert_eq!(read.header.team_id, team_id_of(team));
        assert!(read.encounters.is_empty());
        assert_eq!(read.tallied(), 0);
    }

    #[test]
    fn night_document_is_read_back_by_the_shared_model() {
        let id = Uuid::from_bytes([5; 16]);
        let data = night_document([4; 16], id, "Nuit 2026", "2026-01-22", 0).unwrap();
        let night = doc::read_night(&data).unwrap();
        assert_eq!(night.header.id, id);
        assert_eq!(night.header.date, "2026-01-22");
        assert!(night.teams.is_empty());
    }

    #[test]
    fn utc_date_of_known_instants() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(1_769_040_000_000), "2026-01-22");
        assert_eq!(utc_date(-1), "1969-12-31");
    }
}
