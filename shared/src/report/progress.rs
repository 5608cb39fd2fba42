//! Live progress of a night for the coordinators: per sector, not started / in progress /
//! covered (with how many people) / covered with nobody found / not accessible, and "no news
//! for X minutes" when the teams working on a sector have sent nothing for a while. Pure: the
//! documents as the server holds them, the time each team document last changed, and `now`
//! come in.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::effective::{EncounterStatus, TeamInput, effective_encounters};
use crate::geo::SectorIndex;
use crate::model::{CoverageStatus, Millis, Night, SectorId, Team, TeamId};

/// Default delay after which a sector in progress whose teams sent nothing is flagged.
pub const DEFAULT_SILENT_AFTER_MS: Millis = 30 * 60 * 1000;

/// One team as the server holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressTeam {
    pub input: TeamInput,
    /// Display name (from the server's records; also the document's).
    pub name: String,
    /// When a device's change to the team document was last stored (unix ms).
    pub last_change_at: Option<Millis>,
}

/// Where a sector stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SectorState {
    NotStarted,
    InProgress,
    /// In progress, but none of its teams has sent anything for longer than the threshold.
    Silent,
    Covered,
    CoveredNoneFound,
    NotAccessible,
}

impl SectorState {
    pub const ALL: &'static [SectorState] = &[
        SectorState::NotStarted,
        SectorState::InProgress,
        SectorState::Silent,
        SectorState::Covered,
        SectorState::CoveredNoneFound,
        SectorState::NotAccessible,
    ];

    /// Label for the coordinators' screens (French).
    pub fn label_fr(self) -> &'static str {
        match self {
            SectorState::NotStarted => "Non commencé",
            SectorState::InProgress => "En cours",
            SectorState::Silent => "Sans nouvelles",
            SectorState::Covered => "Couvert",
            SectorState::CoveredNoneFound => "Couvert, personne trouvée",
            SectorState::NotAccessible => "Inaccessible",
        }
    }

    /// Fill colour on the map (colour-blind-safe palette; text is always given as well).
    pub fn colour(self) -> &'static str {
        match self {
            SectorState::NotStarted => "#d9d9d9",
            SectorState::InProgress => "#56b4e9",
            SectorState::Silent => "#e69f00",
            SectorState::Covered => "#009e73",
            SectorState::CoveredNoneFound => "#a6dba0",
            SectorState::NotAccessible => "#cc79a7",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SectorProgress {
    pub sector_id: SectorId,
    pub name: String,
    pub arrondissement: Option<u8>,
    pub state: SectorState,
    /// Teams assigned to the sector or seen working in it.
    pub teams: Vec<TeamId>,
    /// Encounters placed in the sector (withdrawn ones left out).
    pub encounters: u64,
    /// People in those encounters.
    pub persons: u64,
    /// Latest change stored from any of its teams.
    pub last_change_at: Option<Millis>,
    pub minutes_since_change: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamProgress {
    pub team_id: TeamId,
    pub name: String,
    /// False when the team document could not be read (newer app, damaged): reported, not
    /// skipped.
    pub readable: bool,
    pub sectors: Vec<SectorId>,
    /// A round is under way.
    pub out: bool,
    pub encounters: u64,
    pub persons: u64,
    /// People counted with the quick tallies (negative tallies count as zero).
    pub tallied: u64,
    pub last_change_at: Option<Millis>,
    pub minutes_since_change: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressTotals {
    /// Sectors per state (every state present, zeros included).
    pub sectors: BTreeMap<SectorState, u64>,
    pub encounters: u64,
    pub persons: u64,
    pub tallied: u64,
    /// People in encounters that could not be placed in a sector.
    pub unplaced_persons: u64,
    pub teams: u64,
    pub teams_out: u64,
    pub unreadable_teams: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NightProgress {
    pub generated_at: Millis,
    pub silent_after_minutes: i64,
    pub sectors: Vec<SectorProgress>,
    pub teams: Vec<TeamProgress>,
    pub totals: ProgressTotals,
}

fn minutes_since(now: Millis, at: Option<Millis>) -> Option<i64> {
    at.map(|at| (now - at).max(0) / 60_000)
}

/// The sector an encounter without a located position belongs to: the round under way when
/// it was recorded, else the team's only sector.
fn fallback_sector(team: &Team, recorded_at: Millis) -> Option<SectorId> {
    let round = team
        .rounds
        .values()
        .filter(|r| {
            r.checked_in_at <= recorded_at && r.checked_out_at.is_none_or(|out| recorded_at <= out)
        })
        .max_by_key(|r| r.checked_in_at)
        .and_then(|r| r.sector_id.clone());
    round.or_else(|| {
        let mut sectors = team.header.sectors.iter();
        match (sectors.next(), sectors.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        }
    })
}

#[derive(Default)]
struct Work {
    teams: BTreeSet<TeamId>,
    started: bool,
    encounters: u64,
    persons: u64,
    /// (updated_at, status) of the latest coverage report.
    coverage: Option<(Millis, CoverageStatus)>,
}

/// Computes the night's progress at `now`. Sectors are in id order, teams in input order.
pub fn night_progress(
    night: &Night,
    teams: &[ProgressTeam],
    now: Millis,
    silent_after_ms: Millis,
) -> NightProgress {
    let index = SectorIndex::new(&night.sectors);
    let mut work: BTreeMap<&SectorId, Work> = night
        .sectors
        .keys()
        .map(|id| (id, Work::default()))
        .collect();
    let mut totals = ProgressTotals {
        sectors: SectorState::ALL.iter().map(|s| (*s, 0)).collect(),
        ..ProgressTotals::default()
    };
    let mut last_change: BTreeMap<TeamId, Option<Millis>> = BTreeMap::new();
    let mut team_rows = Vec::with_capacity(teams.len());

    let inputs: Vec<TeamInput> = teams.iter().map(|t| t.input.clone()).collect();
    let mut anomalies = Vec::new();
    let effective = effective_encounters(night, &inputs, None, &index, &mut anomalies);

    for t in teams {
        totals.teams += 1;
        let (team_id, team) = match &t.input {
            TeamInput::Read(team) => (team.header.team_id.clone(), Some(team.as_ref())),
            TeamInput::Unreadable { team_id, .. } => (team_id.clone(), None),
        };
        last_change.insert(team_id.clone(), t.last_change_at);
        let mut row = TeamProgress {
            team_id: team_id.clone(),
            name: t.name.clone(),
            readable: team.is_some(),
            sectors: Vec::new(),
            out: false,
            encounters: 0,
            persons: 0,
            tallied: 0,
            last_change_at: t.last_change_at,
            minutes_since_change: minutes_since(now, t.last_change_at),
        };
        let Some(team) = team else {
            totals.unreadable_teams += 1;
            team_rows.push(row);
            continue;
        };
        row.sectors = team.header.sectors.iter().cloned().collect();
        row.out = team.is_out();
        row.tallied = team.tallies.values().map(|v| (*v).max(0) as u64).sum();
        totals.teams_out += u64::from(row.out);
        totals.tallied += row.tallied;
        for sector in &team.header.sectors {
            if let Some(w) = work.get_mut(sector) {
                w.teams.insert(team_id.clone());
            }
        }
        for round in team.rounds.values() {
            if let Some(w) = round.sector_id.as_ref().and_then(|s| work.get_mut(s)) {
                w.teams.insert(team_id.clone());
                w.started = true;
            }
        }
        for (sector, report) in &team.coverage {
            if let Some(w) = work.get_mut(sector) {
                w.teams.insert(team_id.clone());
                w.started = true;
                if w.coverage.is_none_or(|(at, _)| report.updated_at >= at) {
                    w.coverage = Some((report.updated_at, report.status));
                }
            }
        }
        for e in effective.iter().filter(|e| e.team_id == team_id) {
            if e.status != EncounterStatus::Counted {
                continue;
            }
            let persons = e.encounter.counts.total();
            row.encounters += 1;
            row.persons += persons;
            let sector = e
                .sector_id
                .clone()
                .or_else(|| fallback_sector(team, e.encounter.recorded_at));
            match sector.as_ref().and_then(|s| work.get_mut(s)) {
                Some(w) => {
                    w.teams.insert(team_id.clone());
                    w.started = true;
                    w.encounters += 1;
                    w.persons += persons;
                }
                None => totals.unplaced_persons += persons,
            }
        }
        totals.encounters += row.encounters;
        totals.persons += row.persons;
        team_rows.push(row);
    }

    let mut sectors = Vec::with_capacity(work.len());
    for (id, w) in work {
        let Some(sector) = night.sectors.get(id) else {
            continue;
        };
        let latest = w
            .teams
            .iter()
            .filter_map(|t| last_change.get(t).copied().flatten())
            .max();
        let state = match w.coverage.map(|(_, status)| status) {
            Some(CoverageStatus::Covered) => SectorState::Covered,
            Some(CoverageStatus::CoveredNoneFound) => SectorState::CoveredNoneFound,
            Some(CoverageStatus::NotAccessible) => SectorState::NotAccessible,
            Some(CoverageStatus::InProgress) | None if w.started => match latest {
                Some(at) if now - at > silent_after_ms => SectorState::Silent,
                _ => SectorState::InProgress,
            },
            _ => SectorState::NotStarted,
        };
        *totals.sectors.entry(state).or_default() += 1;
        sectors.push(SectorProgress {
            sector_id: id.clone(),
            name: sector.name.clone(),
            arrondissement: sector.arrondissement,
            state,
            teams: w.teams.into_iter().collect(),
            encounters: w.encounters,
            persons: w.persons,
            last_change_at: latest,
            minutes_since_change: minutes_since(now, latest),
        });
    }

    NightProgress {
        generated_at: now,
        silent_after_minutes: silent_after_ms / 60_000,
        sectors,
        teams: team_rows,
        totals,
    }
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
