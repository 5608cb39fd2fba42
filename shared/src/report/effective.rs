//! From the documents as they are to the encounters as they count: the coordinators' review
//! applied (conflict resolutions, corrections, confirmed duplicates), withdrawn encounters
//! marked, and every encounter and tally placed in an area (or in a visible "non attribué").

use std::collections::{BTreeMap, BTreeSet};

use automerge::ReadDoc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::doc::{DocError, read_team};
use crate::geo::{SectorIndex, is_paris_centre};
use crate::model::{DuplicateVerdict, Encounter, Night, Review, SectorId, SpaceType, Team, TeamId};

/// An area of the published figures. Arrondissements 1–4 are "Paris Centre".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Area {
    ParisCentre,
    Arrondissement { number: u8 },
    Unassigned { reason: UnassignedReason },
}

/// Why people could not be placed in an area. They are still counted, on their own line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UnassignedReason {
    /// In (or assigned to) a sector without arrondissement: woods, ring road…
    SectorWithoutArrondissement,
    /// No usable position, and the team's sectors lie in several areas.
    TeamAcrossArrondissements,
    /// No usable position, and the team has no sector of this night.
    TeamWithoutSector,
    /// A partner's aggregate without a valid arrondissement.
    PartnerWithoutArrondissement,
}

impl Area {
    pub fn of_arrondissement(arrondissement: Option<u8>) -> Area {
        match arrondissement {
            Some(a) if is_paris_centre(a) => Area::ParisCentre,
            Some(a) if (5..=20).contains(&a) => Area::Arrondissement { number: a },
            _ => Area::Unassigned {
                reason: UnassignedReason::SectorWithoutArrondissement,
            },
        }
    }

    /// Stable key for CSV and JSON: `paris-centre`, `75005`…`75020`, `non-attribue-<reason>`.
    pub fn key(&self) -> String {
        match self {
            Area::ParisCentre => "paris-centre".into(),
            Area::Arrondissement { number } => format!("751{number:02}"),
            Area::Unassigned { reason } => format!("non-attribue-{}", reason.code()),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Area::ParisCentre => "Paris Centre (1er–4e)".into(),
            Area::Arrondissement { number } => format!("{number}e arrondissement"),
            Area::Unassigned { reason } => format!("Non attribué — {}", reason.label()),
        }
    }
}

impl UnassignedReason {
    pub fn code(self) -> &'static str {
        match self {
            UnassignedReason::SectorWithoutArrondissement => "secteur-sans-arrondissement",
            UnassignedReason::TeamAcrossArrondissements => "equipe-multi-arrondissements",
            UnassignedReason::TeamWithoutSector => "equipe-sans-secteur",
            UnassignedReason::PartnerWithoutArrondissement => "partenaire-sans-arrondissement",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            UnassignedReason::SectorWithoutArrondissement => "secteur sans arrondissement",
            UnassignedReason::TeamAcrossArrondissements => {
                "sans position, équipe sur plusieurs arrondissements"
            }
            UnassignedReason::TeamWithoutSector => "sans position, équipe sans secteur",
            UnassignedReason::PartnerWithoutArrondissement => "partenaire sans arrondissement",
        }
    }
}

/// How an encounter was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PlacedBy {
    /// Its position lies in a sector.
    Position,
    /// No position in any sector: the team's sectors decided (or could not).
    TeamSectors,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum EncounterStatus {
    Counted,
    /// Withdrawn by the team: left out of every figure.
    Withdrawn,
    /// A confirmed duplicate of `kept` (review): left out of every figure.
    DuplicateOf {
        kept: Uuid,
    },
}

/// One encounter as the consolidation sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveEncounter {
    pub team_id: TeamId,
    pub encounter: Encounter,
    pub sector_id: Option<SectorId>,
    pub area: Area,
    pub placed_by: PlacedBy,
    pub status: EncounterStatus,
}

/// A partner's aggregate-only count (RATP, SNCF, AP-HP, car-park operators): no encounter,
/// no position, only totals by sex for a type of space and, when known, an arrondissement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerAggregate {
    pub partner: String,
    pub space_type: SpaceType,
    pub arrondissement: Option<u8>,
    pub men: u32,
    pub women: u32,
    pub unknown: u32,
}

/// A team document as it reached the coordinators.
#[derive(Debug, Clone, PartialEq)]
pub enum TeamInput {
    Read(Box<Team>),
    /// Could not be read: reported in the consolidation, never silently skipped.
    Unreadable {
        team_id: TeamId,
        problem: TeamProblem,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub enum TeamProblem {
    /// Written by a newer app (schema version this build does not read).
    UnsupportedSchema { found: u64 },
    /// Not a team document, or a malformed one.
    Unreadable,
}

/// Reads a team document for the consolidation; a document this build cannot read becomes a
/// reported [`TeamInput::Unreadable`].
pub fn team_input<D: ReadDoc>(team_id: TeamId, doc: &D) -> TeamInput {
    match read_team(doc) {
        Ok(team) => TeamInput::Read(Box::new(team)),
        Err(DocError::UnsupportedSchema { found, .. }) => TeamInput::Unreadable {
            team_id,
            problem: TeamProblem::UnsupportedSchema { found },
        },
        Err(_) => TeamInput::Unreadable {
            team_id,
            problem: TeamProblem::Unreadable,
        },
    }
}

/// Something the coordinators should look at; carries ids only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub enum Anomaly {
    /// A tally below zero (more "−1" than "+1"): counted as zero.
    #[serde(rename_all = "camelCase")]
    NegativeTally { team_id: TeamId, dimension: String },
    /// A correction, resolution or duplicate decision about an encounter nobody has.
    #[serde(rename_all = "camelCase")]
    ReviewTargetMissing { encounter_id: Uuid },
    /// A sector whose stored geometry cannot be read: positions are never placed in it.
    #[serde(rename_all = "camelCase")]
    UnreadableSectorGeometry { sector_id: SectorId },
    /// A partner aggregate with an arrondissement outside 1–20.
    #[serde(rename_all = "camelCase")]
    InvalidPartnerArrondissement { index: usize },
}

/// Where a team's people go when their own position does not say.
pub(crate) fn team_area(team: &Team, night: &Night) -> Area {
    let areas: BTreeSet<Area> = team
        .header
        .sectors
        .iter()
        .filter_map(|id| night.sectors.get(id))
        .map(|s| Area::of_arrondissement(s.arrondissement))
        .collect();
    match areas.len() {
        0 => Area::Unassigned {
            reason: UnassignedReason::TeamWithoutSector,
        },
        1 => areas.into_iter().next().unwrap_or(Area::Unassigned {
            reason: UnassignedReason::TeamWithoutSector,
        }),
        _ => Area::Unassigned {
            reason: UnassignedReason::TeamAcrossArrondissements,
        },
    }
}

/// Applies the review to every readable team's encounters and places them.
pub fn effective_encounters(
    night: &Night,
    teams: &[TeamInput],
    review: Option<&Review>,
    index: &SectorIndex,
    anomalies: &mut Vec<Anomaly>,
) -> Vec<EffectiveEncounter> {
    let mut out: Vec<EffectiveEncounter> = Vec::new();
    let mut position_of: BTreeMap<Uuid, usize> = BTreeMap::new();
    for input in teams {
        let TeamInput::Read(team) = input else {
            continue;
        };
        let fallback = team_area(team, night);
        for encounter in team.encounters.values() {
            position_of.insert(encounter.id, out.len());
            out.push(EffectiveEncounter {
                team_id: team.header.team_id.clone(),
                encounter: encounter.clone(),
                sector_id: None,
                area: fallback,
                placed_by: PlacedBy::TeamSectors,
                status: EncounterStatus::Counted,
            });
        }
    }

    if let Some(review) = review {
        // Resolutions first (the value chosen among concurrent ones), then corrections in the
        // order they were made: a correction is the coordinators' last word on a field.
        for r in review.resolutions.values() {
            match position_of.get(&r.encounter_id) {
                Some(&i) => out[i].encounter.apply(r.chosen.clone()),
                None => anomalies.push(Anomaly::ReviewTargetMissing {
                    encounter_id: r.encounter_id,
                }),
            }
        }
        let mut corrections: Vec<_> = review.corrections.values().collect();
        corrections.sort_by_key(|c| (c.made_at, c.id));
        for c in corrections {
            match position_of.get(&c.encounter_id) {
                Some(&i) => out[i].encounter.apply(c.edit.clone()),
                None => anomalies.push(Anomaly::ReviewTargetMissing {
                    encounter_id: c.encounter_id,
                }),
            }
        }
    }

    for e in &mut out {
        if e.encounter.withdrawn {
            e.status = EncounterStatus::Withdrawn;
        }
        if let Some(p) = e.encounter.position
            && let Some((sector, arrondissement)) = index.locate(p)
        {
            e.sector_id = Some(sector.clone());
            e.area = Area::of_arrondissement(arrondissement);
            e.placed_by = PlacedBy::Position;
        }
    }

    if let Some(review) = review {
        apply_confirmed_duplicates(&mut out, &position_of, review, anomalies);
    }
    out
}

/// Confirmed pairs form clusters (A=B and B=C: one person seen three times); each cluster
/// keeps its smallest id and the others leave the figures. Withdrawn encounters stay out of
/// clusters: a confirmed pair with a withdrawn side keeps the other side.
fn apply_confirmed_duplicates(
    out: &mut [EffectiveEncounter],
    position_of: &BTreeMap<Uuid, usize>,
    review: &Review,
    anomalies: &mut Vec<Anomaly>,
) {
    let mut parent: BTreeMap<Uuid, Uuid> = BTreeMap::new();
    fn root(parent: &mut BTreeMap<Uuid, Uuid>, mut x: Uuid) -> Uuid {
        while let Some(&p) = parent.get(&x) {
            if p == x {
                break;
            }
            x = p;
        }
        x
    }
    for d in review.duplicates.values() {
        if d.verdict != DuplicateVerdict::Confirmed {
            continue;
        }
        let mut counted = true;
        for id in [d.first, d.second] {
            match position_of.get(&id) {
                None => {
                    anomalies.push(Anomaly::ReviewTargetMissing { encounter_id: id });
                    counted = false;
                }
                Some(&i) if out[i].status != EncounterStatus::Counted => counted = false,
                Some(_) => {}
            }
        }
        if !counted {
            continue;
        }
        let (a, b) = (root(&mut parent, d.first), root(&mut parent, d.second));
        let (keep, drop) = if a <= b { (a, b) } else { (b, a) };
        parent.insert(keep, keep);
        parent.insert(drop, keep);
    }
    let members: Vec<Uuid> = parent.keys().copied().collect();
    for id in members {
        let kept = root(&mut parent, id);
        if kept != id
            && let Some(&i) = position_of.get(&id)
        {
            out[i].status = EncounterStatus::DuplicateOf { kept };
        }
    }
}
