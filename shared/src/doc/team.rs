//! The `team` document: one per team per night, written by the team's devices.
//!
//! Root keys: `schema`, `kind` = "team", `teamId`, `nightId`, `name`, `sectors` (sector id ->
//! true), `encounters` (see `encounter.rs`), `rounds` (uuid -> map), `coverage` (sector id ->
//! map, replaced whole on each report), `tallies` (dimension key -> Counter).

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use uuid::Uuid;

use super::encounter::read_encounters;
use super::values::{self, opt, req};
use super::{DocError, DocKind, check_header, init_header, write};
use crate::model::{
    CoverageStatus, Millis, Round, SectorCoverage, SectorId, SpaceType, TallyDimension, Team,
    TeamHeader, TeamId,
};

/// Creates the team document in a few small changes: one with the header and empty maps, then
/// one per type of space creating its tally counters at zero.
///
/// Why every counter is created up front: a counter created by two devices concurrently (two
/// `put`s of the same key) is two distinct counters in conflict; each device's increments go
/// to its own, and readers see only the winner, so the loser's increments vanish. Creating every
/// dimension here, before any device has the document, means devices only ever `increment`.
pub fn create_team(doc: &mut AutoCommit, header: &TeamHeader, now: Millis) -> Result<(), DocError> {
    write(doc, "create team", now, |doc| {
        init_header(doc, DocKind::Team)?;
        values::put_str(doc, &ROOT, "teamId", &header.team_id.0)?;
        values::put_str(doc, &ROOT, "nightId", &header.night_id.to_string())?;
        values::put_str(doc, &ROOT, "name", &header.name)?;
        let sectors = doc.put_object(ROOT, "sectors", ObjType::Map)?;
        for sector in &header.sectors {
            values::put_bool(doc, &sectors, &sector.0, true)?;
        }
        for key in ["encounters", "rounds", "coverage", "tallies"] {
            doc.put_object(ROOT, key, ObjType::Map)?;
        }
        Ok(())
    })?;
    for &space_type in SpaceType::ALL {
        write(doc, "create tallies", now, |doc| {
            let tallies = values::req_map(doc, &ROOT, "tallies")?;
            for dim in TallyDimension::all_for(space_type) {
                doc.put(&tallies, dim.key().as_str(), ScalarValue::counter(0))?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Sets the sectors a team covers (those not in `sectors` are removed), in one change.
pub fn set_team_sectors(
    doc: &mut AutoCommit,
    sectors: &std::collections::BTreeSet<crate::model::SectorId>,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, "set team sectors", now, |doc| {
        check_header(doc, DocKind::Team)?;
        let map = values::req_map(doc, &ROOT, "sectors")?;
        for key in doc.keys(&map).collect::<Vec<_>>() {
            if !sectors.iter().any(|s| s.0 == key) {
                values::delete(doc, &map, &key)?;
            }
        }
        for sector in sectors {
            values::put_bool(doc, &map, &sector.0, true)?;
        }
        Ok(())
    })
}

/// Adds `delta` (usually +1 or -1) to a tally. Concurrent increments from several devices add up.
///
/// If the counter is missing (a document created by other code), it is created here; two
/// devices doing so concurrently would lose one side's counts (see [`create_team`]).
pub fn add_to_tally(
    doc: &mut AutoCommit,
    dim: TallyDimension,
    delta: i64,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, "tally", now, |doc| {
        check_header(doc, DocKind::Team)?;
        let tallies = values::req_map(doc, &ROOT, "tallies")?;
        let key = dim.key();
        match doc.get(&tallies, key.as_str())? {
            Some((Value::Scalar(s), _)) if s.is_counter() => {}
            Some(_) => {
                return Err(DocError::WrongType {
                    key,
                    expected: "counter",
                });
            }
            None => doc.put(&tallies, key.as_str(), ScalarValue::counter(0))?,
        }
        doc.increment(&tallies, key.as_str(), delta)?;
        Ok(())
    })
}

/// Starts a round. Each check-in is its own map entry, so concurrent check-ins never clash.
pub fn check_in(doc: &mut AutoCommit, round: &Round, now: Millis) -> Result<(), DocError> {
    write(doc, "check in", now, |doc| {
        check_header(doc, DocKind::Team)?;
        let rounds = values::req_map(doc, &ROOT, "rounds")?;
        let obj = doc.put_object(&rounds, round.id.to_string().as_str(), ObjType::Map)?;
        values::put_str(doc, &obj, "device", &round.device)?;
        values::put_timestamp(doc, &obj, "checkedInAt", round.checked_in_at)?;
        if let Some(sector) = &round.sector_id {
            values::put_str(doc, &obj, "sectorId", &sector.0)?;
        }
        if let Some(out) = round.checked_out_at {
            values::put_timestamp(doc, &obj, "checkedOutAt", out)?;
        }
        Ok(())
    })
}

/// Ends a round at `at`.
pub fn check_out(
    doc: &mut AutoCommit,
    round_id: Uuid,
    at: Millis,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, "check out", now, |doc| {
        check_header(doc, DocKind::Team)?;
        let rounds = values::req_map(doc, &ROOT, "rounds")?;
        let obj = match doc.get(&rounds, round_id.to_string().as_str())? {
            Some((Value::Object(ObjType::Map), obj)) => obj,
            Some(_) => {
                return Err(DocError::WrongType {
                    key: round_id.to_string(),
                    expected: "map",
                });
            }
            None => return Err(DocError::NoSuchRound(round_id)),
        };
        values::put_timestamp(doc, &obj, "checkedOutAt", at)?;
        Ok(())
    })
}

/// Reports the coverage of a sector ("covered, 0 found" included). The report is a fresh map,
/// so concurrent reports resolve to one whole report.
pub fn mark_coverage(
    doc: &mut AutoCommit,
    sector: &SectorId,
    coverage: &SectorCoverage,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, "mark coverage", now, |doc| {
        check_header(doc, DocKind::Team)?;
        let map = values::req_map(doc, &ROOT, "coverage")?;
        let obj = doc.put_object(&map, sector.0.as_str(), ObjType::Map)?;
        values::put_str(doc, &obj, "status", coverage.status.code())?;
        values::put_timestamp(doc, &obj, "updatedAt", coverage.updated_at)?;
        values::put_str(doc, &obj, "device", &coverage.device)?;
        Ok(())
    })
}

/// Materialises the whole team document.
pub fn read_team<D: ReadDoc>(doc: &D) -> Result<Team, DocError> {
    check_header(doc, DocKind::Team)?;
    let night_id = req(doc, &ROOT, "nightId", values::as_uuid)?;
    let mut sectors = BTreeSet::new();
    if let Some(map) = opt(doc, &ROOT, "sectors", values::as_map)? {
        for key in doc.keys(&map) {
            if req(doc, &map, &key, values::as_bool)? {
                sectors.insert(SectorId(key));
            }
        }
    }
    let header = TeamHeader {
        team_id: TeamId(req(doc, &ROOT, "teamId", values::as_str)?),
        night_id,
        name: opt(doc, &ROOT, "name", values::as_str)?.unwrap_or_default(),
        sectors,
    };

    let mut rounds = BTreeMap::new();
    let map = values::req_map(doc, &ROOT, "rounds")?;
    for key in doc.keys(&map) {
        let id = Uuid::parse_str(&key).map_err(|_| DocError::BadKey(key.clone()))?;
        let obj = values::req_map(doc, &map, &key)?;
        rounds.insert(
            id,
            Round {
                id,
                sector_id: opt(doc, &obj, "sectorId", values::as_str)?.map(SectorId),
                checked_in_at: req(doc, &obj, "checkedInAt", values::as_timestamp)?,
                checked_out_at: opt(doc, &obj, "checkedOutAt", values::as_timestamp)?,
                device: req(doc, &obj, "device", values::as_str)?,
            },
        );
    }

    let mut tallies = BTreeMap::new();
    let map = values::req_map(doc, &ROOT, "tallies")?;
    for key in doc.keys(&map) {
        let dim = TallyDimension::parse_key(&key).map_err(|_| DocError::BadKey(key.clone()))?;
        tallies.insert(dim, req(doc, &map, &key, values::as_counter)?);
    }

    let mut coverage = BTreeMap::new();
    let map = values::req_map(doc, &ROOT, "coverage")?;
    for key in doc.keys(&map) {
        let obj = values::req_map(doc, &map, &key)?;
        coverage.insert(
            SectorId(key),
            SectorCoverage {
                status: req(doc, &obj, "status", |v, i, k| {
                    values::code(v, i, k, CoverageStatus::from_code)
                })?,
                updated_at: req(doc, &obj, "updatedAt", values::as_timestamp)?,
                device: req(doc, &obj, "device", values::as_str)?,
            },
        );
    }

    Ok(Team {
        header,
        rounds,
        encounters: read_encounters(doc)?,
        tallies,
        coverage,
    })
}
