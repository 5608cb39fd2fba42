//! Import of the sector map: a GeoJSON FeatureCollection of Polygon / MultiPolygon features.
//!
//! Everything is checked before anything is returned, and every invalid feature is reported
//! with its index and a reason: an import is all or nothing, so that a night never runs with
//! half a map. The checks that need geometry (self-intersection, holes outside their shell,
//! overlapping parts) are `geo`'s `Validation`; the ones it cannot see because `geo` closes
//! rings itself (unclosed ring, too few positions, coordinates out of range) are done first
//! on the raw GeoJSON positions.

use std::collections::BTreeMap;

use ::geo::Validation;
use ::geo::algorithm::validation::{InvalidMultiPolygon, InvalidPolygon, RingRole};
use geojson::GeometryValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Sector, SectorId};

/// Which ring of which polygon: `polygon` is 0 for a Polygon, the part index for a
/// MultiPolygon; `ring` 0 is the exterior ring, 1.. the holes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RingRef {
    pub polygon: usize,
    pub ring: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// The import is refused.
    Error,
    /// Imported, but the coordinator should look at it.
    Warning,
}

/// Why a feature (or the whole file) cannot be imported as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub enum FeatureProblem {
    NotJson,
    NotAFeatureCollection,
    NoFeatures,
    NotAFeature,
    NoGeometry,
    #[serde(rename_all = "camelCase")]
    WrongGeometryType {
        found: String,
    },
    /// The geometry says Polygon/MultiPolygon but its coordinates are not nested as such.
    MalformedGeometry,
    EmptyGeometry,
    TooFewPositions {
        at: RingRef,
    },
    UnclosedRing {
        at: RingRef,
    },
    CoordinateOutOfRange {
        at: RingRef,
    },
    SelfIntersection {
        at: RingRef,
    },
    HoleOutsideExterior {
        at: RingRef,
    },
    RingsCross {
        polygon: usize,
    },
    PartsOverlap {
        first: usize,
        second: usize,
    },
    MissingName,
    /// Warning: no arrondissement 1–20 (woods, ring road…): imported "sans arrondissement".
    NoArrondissement,
    #[serde(rename_all = "camelCase")]
    DuplicateId {
        id: String,
        first_index: usize,
    },
}

/// One finding of the import; `index` is the feature's position in `features` (none for
/// problems of the whole file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureIssue {
    pub index: Option<usize>,
    pub severity: Severity,
    pub problem: FeatureProblem,
}

/// A successful import: the sectors in file order, and the warnings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SectorImport {
    pub sectors: Vec<(SectorId, Sector)>,
    pub warnings: Vec<FeatureIssue>,
}

impl FeatureProblem {
    pub fn severity(&self) -> Severity {
        match self {
            FeatureProblem::NoArrondissement => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// The reason in French, for the coordinator's screen.
    pub fn message_fr(&self) -> String {
        let ring = |at: &RingRef| {
            let which = if at.ring == 0 {
                "contour extérieur".to_owned()
            } else {
                format!("trou n° {}", at.ring)
            };
            format!("{which} du polygone n° {}", at.polygon + 1)
        };
        match self {
            FeatureProblem::NotJson => "le fichier n'est pas du JSON valide".into(),
            FeatureProblem::NotAFeatureCollection => {
                "le fichier n'est pas une FeatureCollection GeoJSON".into()
            }
            FeatureProblem::NoFeatures => "la FeatureCollection ne contient aucun secteur".into(),
            FeatureProblem::NotAFeature => "l'élément n'est pas une Feature GeoJSON".into(),
            FeatureProblem::NoGeometry => "pas de géométrie".into(),
            FeatureProblem::WrongGeometryType { found } => {
                format!("géométrie {found} : seuls Polygon et MultiPolygon sont acceptés")
            }
            FeatureProblem::MalformedGeometry => "coordonnées mal formées".into(),
            FeatureProblem::EmptyGeometry => "géométrie vide".into(),
            FeatureProblem::TooFewPositions { at } => {
                format!("{} : moins de 4 positions", ring(at))
            }
            FeatureProblem::UnclosedRing { at } => {
                format!(
                    "{} : anneau non fermé (dernière position ≠ première)",
                    ring(at)
                )
            }
            FeatureProblem::CoordinateOutOfRange { at } => {
                format!("{} : coordonnées hors limites", ring(at))
            }
            FeatureProblem::SelfIntersection { at } => {
                format!("{} : l'anneau se recoupe", ring(at))
            }
            FeatureProblem::HoleOutsideExterior { at } => {
                format!("{} : trou hors du contour extérieur", ring(at))
            }
            FeatureProblem::RingsCross { polygon } => {
                format!("polygone n° {} : des anneaux se croisent", polygon + 1)
            }
            FeatureProblem::PartsOverlap { first, second } => {
                format!(
                    "les polygones n° {} et {} se chevauchent",
                    first + 1,
                    second + 1
                )
            }
            FeatureProblem::MissingName => "nom du secteur manquant".into(),
            FeatureProblem::NoArrondissement => {
                "arrondissement absent ou hors 1–20 : importé sans arrondissement".into()
            }
            FeatureProblem::DuplicateId { id, first_index } => {
                format!("identifiant « {id} » déjà utilisé par l'élément n° {first_index}")
            }
        }
    }
}

const NAME_KEYS: &[&str] = &["name", "nom", "libelle", "label", "l_secteur", "secteur"];
const ARRONDISSEMENT_KEYS: &[&str] = &[
    "arrondissement",
    "arr",
    "arrdt",
    "ardt",
    "c_ar",
    "c_arinsee",
    "code_insee",
];
const ID_KEYS: &[&str] = &["id", "code", "sector_id", "secteur_id", "code_secteur"];

/// Imports the sector map. `Err` carries every issue found (errors and warnings); `Ok` carries
/// the sectors and the warnings.
pub fn import_sectors(text: &str) -> Result<SectorImport, Vec<FeatureIssue>> {
    let whole = |problem| {
        vec![FeatureIssue {
            index: None,
            severity: Severity::Error,
            problem,
        }]
    };
    let root: Value = serde_json::from_str(text).map_err(|_| whole(FeatureProblem::NotJson))?;
    let features = match (&root.get("type"), root.get("features")) {
        (Some(Value::String(t)), Some(Value::Array(features))) if t == "FeatureCollection" => {
            features
        }
        _ => return Err(whole(FeatureProblem::NotAFeatureCollection)),
    };
    if features.is_empty() {
        return Err(whole(FeatureProblem::NoFeatures));
    }

    let mut issues = Vec::new();
    let mut sectors = Vec::new();
    let mut seen_ids: BTreeMap<String, usize> = BTreeMap::new();
    for (index, feature) in features.iter().enumerate() {
        let mut problems = Vec::new();
        let parsed = check_feature(index, feature, &mut problems);
        if let Some((id, _)) = &parsed {
            if let Some(&first_index) = seen_ids.get(&id.0) {
                problems.push(FeatureProblem::DuplicateId {
                    id: id.0.clone(),
                    first_index,
                });
            } else {
                seen_ids.insert(id.0.clone(), index);
            }
        }
        let has_error = problems.iter().any(|p| p.severity() == Severity::Error);
        issues.extend(problems.into_iter().map(|problem| FeatureIssue {
            index: Some(index),
            severity: problem.severity(),
            problem,
        }));
        if let (Some(sector), false) = (parsed, has_error) {
            sectors.push(sector);
        }
    }
    if issues.iter().any(|i| i.severity == Severity::Error) {
        Err(issues)
    } else {
        Ok(SectorImport {
            sectors,
            warnings: issues,
        })
    }
}

/// Checks one feature; pushes its problems and returns the sector when it could be built
/// (possibly with problems, e.g. a duplicate id found later).
fn check_feature(
    index: usize,
    feature: &Value,
    problems: &mut Vec<FeatureProblem>,
) -> Option<(SectorId, Sector)> {
    let Some(obj) = feature.as_object() else {
        problems.push(FeatureProblem::NotAFeature);
        return None;
    };
    if obj.get("type").and_then(Value::as_str) != Some("Feature") {
        problems.push(FeatureProblem::NotAFeature);
        return None;
    }
    let empty = Map::new();
    let properties = obj
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);

    let geometry = check_geometry(obj.get("geometry"), problems);

    let name = property(properties, NAME_KEYS)
        .and_then(|v| match v {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|s| !s.is_empty());
    if name.is_none() {
        problems.push(FeatureProblem::MissingName);
    }
    let arrondissement = property(properties, ARRONDISSEMENT_KEYS).and_then(parse_arrondissement);
    if arrondissement.is_none() {
        problems.push(FeatureProblem::NoArrondissement);
    }
    let id = obj
        .get("id")
        .and_then(id_text)
        .or_else(|| property(properties, ID_KEYS).and_then(id_text))
        .unwrap_or_else(|| format!("S{:03}", index + 1));

    let (geometry, name) = (geometry?, name?);
    Some((
        SectorId(id),
        Sector {
            name,
            arrondissement,
            geojson: geometry,
        },
    ))
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first property whose key matches one of `keys`, ignoring case.
fn property<'a>(properties: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| {
        properties
            .iter()
            .find(|(key, v)| key.eq_ignore_ascii_case(k) && !v.is_null())
            .map(|(_, v)| v)
    })
}

/// An arrondissement as sector maps spell it: `4`, `"4"`, `"4e"`, `"1er"`, or the INSEE code
/// `75104`. `None` for anything else, including numbers outside 1–20.
pub fn parse_arrondissement(v: &Value) -> Option<u8> {
    let n: u64 = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e6)
                .map(|f| f as u64)
        })?,
        Value::String(s) => {
            let s = s.trim().to_lowercase();
            let digits = s
                .strip_suffix("ème")
                .or_else(|| s.strip_suffix("eme"))
                .or_else(|| s.strip_suffix("er"))
                .or_else(|| s.strip_suffix('e'))
                .unwrap_or(&s)
                .trim();
            digits.parse().ok()?
        }
        _ => return None,
    };
    let n = if (75101..=75120).contains(&n) {
        n - 75100
    } else {
        n
    };
    u8::try_from(n).ok().filter(|a| (1..=20).contains(a))
}

/// Checks the geometry and returns it as GeoJSON text when it is valid.
fn check_geometry(geometry: Option<&Value>, problems: &mut Vec<FeatureProblem>) -> Option<String> {
    let Some(geometry) = geometry.filter(|g| !g.is_null()) else {
        problems.push(FeatureProblem::NoGeometry);
        return None;
    };
    let kind = geometry.get("type").and_then(Value::as_str).unwrap_or("?");
    if kind != "Polygon" && kind != "MultiPolygon" {
        problems.push(FeatureProblem::WrongGeometryType {
            // Only the type name (bounded), never coordinates.
            found: kind.chars().take(32).collect(),
        });
        return None;
    }
    let Ok(value) = serde_json::from_value::<GeometryValue>(geometry.clone()) else {
        problems.push(FeatureProblem::MalformedGeometry);
        return None;
    };
    let polygons: Vec<&Vec<Vec<geojson::Position>>> = match &value {
        GeometryValue::Polygon { coordinates } => vec![coordinates],
        GeometryValue::MultiPolygon { coordinates } => coordinates.iter().collect(),
        _ => {
            problems.push(FeatureProblem::MalformedGeometry);
            return None;
        }
    };
    if polygons.is_empty() || polygons.iter().any(|p| p.is_empty()) {
        problems.push(FeatureProblem::EmptyGeometry);
        return None;
    }
    let before = problems.len();
    for (p, rings) in polygons.iter().enumerate() {
        for (r, ring) in rings.iter().enumerate() {
            check_ring(
                RingRef {
                    polygon: p,
                    ring: r,
                },
                ring,
                problems,
            );
        }
    }
    if problems.len() > before {
        return None;
    }
    // Raw positions are sound: now the topology, with geo.
    let geo_polygons: Vec<::geo::Polygon<f64>> =
        polygons.iter().map(|rings| to_geo_polygon(rings)).collect();
    for (p, polygon) in geo_polygons.iter().enumerate() {
        for error in polygon.validation_errors() {
            problems.push(polygon_problem(p, &error));
        }
    }
    if problems.len() == before && geo_polygons.len() > 1 {
        let multi = ::geo::MultiPolygon(geo_polygons);
        for error in multi.validation_errors() {
            match error {
                InvalidMultiPolygon::ElementsOverlaps(a, b)
                | InvalidMultiPolygon::ElementsTouchOnALine(a, b) => {
                    problems.push(FeatureProblem::PartsOverlap {
                        first: a.0,
                        second: b.0,
                    })
                }
                InvalidMultiPolygon::InvalidPolygon(i, e) => {
                    problems.push(polygon_problem(i.0, &e))
                }
            }
        }
    }
    if problems.len() > before {
        // geo may report one pair of parts both as overlapping and as touching.
        let mut seen = Vec::new();
        let tail = problems.split_off(before);
        for p in tail {
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
        problems.extend(seen);
        return None;
    }
    serde_json::to_string(&value).ok()
}

fn check_ring(at: RingRef, ring: &[geojson::Position], problems: &mut Vec<FeatureProblem>) {
    let in_range = |p: &geojson::Position| {
        p.len() >= 2
            && p[0].is_finite()
            && p[1].is_finite()
            && (-180.0..=180.0).contains(&p[0])
            && (-90.0..=90.0).contains(&p[1])
    };
    if !ring.iter().all(in_range) {
        problems.push(FeatureProblem::CoordinateOutOfRange { at });
        return;
    }
    if ring.len() < 4 {
        problems.push(FeatureProblem::TooFewPositions { at });
    }
    if let (Some(first), Some(last)) = (ring.first(), ring.last())
        && (first[0] != last[0] || first[1] != last[1])
    {
        problems.push(FeatureProblem::UnclosedRing { at });
    }
}

fn polygon_problem(polygon: usize, error: &InvalidPolygon) -> FeatureProblem {
    let at = |role: &RingRole| RingRef {
        polygon,
        ring: match role {
            RingRole::Exterior => 0,
            RingRole::Interior(i) => i + 1,
        },
    };
    match error {
        InvalidPolygon::TooFewPointsInRing(role) => {
            FeatureProblem::TooFewPositions { at: at(role) }
        }
        InvalidPolygon::SelfIntersection(role) => FeatureProblem::SelfIntersection { at: at(role) },
        InvalidPolygon::NonFiniteCoord(role, _) => {
            FeatureProblem::CoordinateOutOfRange { at: at(role) }
        }
        InvalidPolygon::InteriorRingNotContainedInExteriorRing(role) => {
            FeatureProblem::HoleOutsideExterior { at: at(role) }
        }
        InvalidPolygon::IntersectingRingsOnALine(..)
        | InvalidPolygon::IntersectingRingsOnAnArea(..) => FeatureProblem::RingsCross { polygon },
    }
}

pub(crate) fn to_geo_polygon(rings: &[Vec<geojson::Position>]) -> ::geo::Polygon<f64> {
    let ring = |positions: &Vec<geojson::Position>| {
        ::geo::LineString::from(
            positions
                .iter()
                .filter(|p| p.len() >= 2)
                .map(|p| (p[0], p[1]))
                .collect::<Vec<_>>(),
        )
    };
    let mut iter = rings.iter();
    let exterior = iter
        .next()
        .map(ring)
        .unwrap_or_else(|| ::geo::LineString::new(Vec::new()));
    ::geo::Polygon::new(exterior, iter.map(ring).collect())
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
