//! The `night` document, written by coordinators and read by every team of the night.
//!
//! Root keys: `schema`, `kind` = "night", `id`, `date`, `label`, `sectors` (sector id -> map
//! {name, arrondissement?, geojson}), `questionnaire` (map {version, definition}, optional),
//! `teams` (team id -> automerge URL).

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};

use super::values::{self, opt, req};
use super::{DocError, DocKind, check_header, init_header, messages, write};
use crate::ids::DocumentId;
use crate::model::{
    Millis, Night, NightHeader, QuestionnaireDefinition, Sector, SectorId, TeamId, is_iso_date,
};

/// Creates the night document with its header and empty maps (one small change).
pub fn create_night(
    doc: &mut AutoCommit,
    header: &NightHeader,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, messages::CREATE_NIGHT, now, |doc| {
        tx::create_night(doc, header)
    })
}

/// Adds or replaces one sector, in its own change.
pub fn put_sector(
    doc: &mut AutoCommit,
    id: &SectorId,
    sector: &Sector,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, messages::PUT_SECTOR, now, |doc| {
        tx::put_sector(doc, id, sector)
    })
}

/// Removes a sector from the map (a re-imported map no longer has it), in its own change.
/// Removing an absent sector is a no-op change.
pub fn remove_sector(doc: &mut AutoCommit, id: &SectorId, now: Millis) -> Result<(), DocError> {
    write(doc, "remove sector", now, |doc| {
        check_header(doc, DocKind::Night)?;
        let sectors = values::req_map(doc, &ROOT, "sectors")?;
        values::delete(doc, &sectors, &id.0)
    })
}

/// Publishes a questionnaire version (replacing the previous one as a whole).
pub fn set_questionnaire(
    doc: &mut AutoCommit,
    q: &QuestionnaireDefinition,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, messages::SET_QUESTIONNAIRE, now, |doc| {
        tx::set_questionnaire(doc, q)
    })
}

/// Adds a team to the index: team id -> `automerge:` URL of its team document.
pub fn put_team_ref(
    doc: &mut AutoCommit,
    team: &TeamId,
    url: &str,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, messages::PUT_TEAM, now, |doc| {
        tx::put_team_ref(doc, team, url)
    })
}

/// The writers' operations, for any transaction (an `AutoCommit` or an `automerge`
/// `Transaction` such as the sync driver's); the caller commits.
pub(super) mod tx {
    use super::*;

    pub fn create_night<T: Transactable>(
        doc: &mut T,
        header: &NightHeader,
    ) -> Result<(), DocError> {
        if !is_iso_date(&header.date) {
            return Err(DocError::Invalid("night date is not YYYY-MM-DD"));
        }
        init_header(doc, DocKind::Night)?;
        values::put_str(doc, &ROOT, "id", &header.id.to_string())?;
        values::put_str(doc, &ROOT, "date", &header.date)?;
        values::put_str(doc, &ROOT, "label", &header.label)?;
        doc.put_object(ROOT, "sectors", ObjType::Map)?;
        doc.put_object(ROOT, "teams", ObjType::Map)?;
        Ok(())
    }

    pub fn put_sector<T: Transactable>(
        doc: &mut T,
        id: &SectorId,
        sector: &Sector,
    ) -> Result<(), DocError> {
        check_header(doc, DocKind::Night)?;
        sector
            .validate()
            .map_err(|_| DocError::Invalid("sector arrondissement or geometry"))?;
        let sectors = values::req_map(doc, &ROOT, "sectors")?;
        let obj = doc.put_object(&sectors, id.0.as_str(), ObjType::Map)?;
        values::put_str(doc, &obj, "name", &sector.name)?;
        if let Some(a) = sector.arrondissement {
            values::put_uint(doc, &obj, "arrondissement", u64::from(a))?;
        }
        values::put_str(doc, &obj, "geojson", &sector.geojson)?;
        Ok(())
    }

    pub fn set_questionnaire<T: Transactable>(
        doc: &mut T,
        q: &QuestionnaireDefinition,
    ) -> Result<(), DocError> {
        check_header(doc, DocKind::Night)?;
        if serde_json::from_str::<serde_json::Value>(&q.definition).is_err() {
            return Err(DocError::Invalid("questionnaire definition is not JSON"));
        }
        let obj = doc.put_object(ROOT, "questionnaire", ObjType::Map)?;
        values::put_uint(doc, &obj, "version", u64::from(q.version))?;
        values::put_str(doc, &obj, "definition", &q.definition)?;
        Ok(())
    }

    pub fn put_team_ref<T: Transactable>(
        doc: &mut T,
        team: &TeamId,
        url: &str,
    ) -> Result<(), DocError> {
        check_header(doc, DocKind::Night)?;
        DocumentId::parse_url(url).map_err(|_| DocError::Invalid("team document URL"))?;
        let teams = values::req_map(doc, &ROOT, "teams")?;
        values::put_str(doc, &teams, &team.0, url)?;
        Ok(())
    }
}

/// Writes a whole night: header, then one change per sector, questionnaire and team.
pub fn write_night(doc: &mut AutoCommit, night: &Night, now: Millis) -> Result<(), DocError> {
    create_night(doc, &night.header, now)?;
    for (id, sector) in &night.sectors {
        put_sector(doc, id, sector, now)?;
    }
    if let Some(q) = &night.questionnaire {
        set_questionnaire(doc, q, now)?;
    }
    for (team, url) in &night.teams {
        put_team_ref(doc, team, url, now)?;
    }
    Ok(())
}

/// Materialises the whole night document.
pub fn read_night<D: ReadDoc>(doc: &D) -> Result<Night, DocError> {
    check_header(doc, DocKind::Night)?;
    let header = NightHeader {
        id: req(doc, &ROOT, "id", values::as_uuid)?,
        date: req(doc, &ROOT, "date", values::as_str)?,
        label: opt(doc, &ROOT, "label", values::as_str)?.unwrap_or_default(),
    };
    let mut sectors = BTreeMap::new();
    if let Some(map) = opt(doc, &ROOT, "sectors", values::as_map)? {
        for key in doc.keys(&map) {
            let obj = values::req_map(doc, &map, &key)?;
            let sector = Sector {
                name: opt(doc, &obj, "name", values::as_str)?.unwrap_or_default(),
                arrondissement: opt(doc, &obj, "arrondissement", values::as_u8)?,
                geojson: req(doc, &obj, "geojson", values::as_str)?,
            };
            sectors.insert(SectorId(key), sector);
        }
    }
    let questionnaire = match opt(doc, &ROOT, "questionnaire", values::as_map)? {
        None => None,
        Some(obj) => Some(QuestionnaireDefinition {
            version: req(doc, &obj, "version", values::as_u32)?,
            definition: req(doc, &obj, "definition", values::as_str)?,
        }),
    };
    let mut teams = BTreeMap::new();
    if let Some(map) = opt(doc, &ROOT, "teams", values::as_map)? {
        for key in doc.keys(&map) {
            let url = req(doc, &map, &key, values::as_str)?;
            teams.insert(TeamId(key), url);
        }
    }
    Ok(Night {
        header,
        sectors,
        questionnaire,
        teams,
    })
}
