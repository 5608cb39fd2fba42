//! Places where people can cool down or drink: cool rooms, cool green spaces, drinking
//! fountains, imported from Paris open data (CSV or GeoJSON exports of opendata.paris.fr; the
//! columns are listed in `shared/kits/FORMAT.md`), and the nearest ones to a position.
//!
//! An import never fails on one bad row: malformed rows, rows without coordinates and
//! duplicate ids are listed in the [`PlacesReport`] and the other rows are imported. Opening
//! hours are optional.

use std::collections::{BTreeMap, BTreeSet};

use crate::geo::to_geo_polygon;
use ::geo::{Centroid, Distance, Haversine, Point};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kinds of places, one per open-data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlaceKind {
    /// A cool room (salle rafraîchie: town halls, clubs, libraries, pools…).
    CoolRoom,
    /// A cool green space (park, garden, wood), some open at night in a heat wave.
    GreenSpace,
    /// A drinking fountain.
    Fountain,
}

impl PlaceKind {
    pub const ALL: [PlaceKind; 3] = [
        PlaceKind::CoolRoom,
        PlaceKind::GreenSpace,
        PlaceKind::Fountain,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            PlaceKind::CoolRoom => "cool-room",
            PlaceKind::GreenSpace => "green-space",
            PlaceKind::Fountain => "fountain",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub const fn label_fr(self) -> &'static str {
        match self {
            PlaceKind::CoolRoom => "Lieu rafraîchi",
            PlaceKind::GreenSpace => "Espace vert frais",
            PlaceKind::Fountain => "Fontaine à boire",
        }
    }
}

/// One place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// The dataset's id (`identifiant`, `gid`), else built from the coordinates.
    pub id: String,
    pub kind: PlaceKind,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrondissement: Option<String>,
    /// Opening hours as published (`lun. : 10:00-18:00 ; …`); `None` when the data has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
    /// `false` for a fountain marked out of order (`dispo = NON`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
}

impl Place {
    /// The key of the place in the `kit` document: unique across kinds.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.code(), self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum RowReason {
    /// The row could not be read (wrong number of fields, bad quoting, not a Feature…).
    Malformed {
        detail: String,
    },
    NoCoordinates,
    /// Coordinates that do not parse or lie outside -90..90 / -180..180.
    BadCoordinates,
    DuplicateId {
        id: String,
    },
}

impl RowReason {
    pub fn message_fr(&self) -> String {
        match self {
            RowReason::Malformed { detail } => format!("ligne illisible ({detail})"),
            RowReason::NoCoordinates => "pas de coordonnées".to_owned(),
            RowReason::BadCoordinates => "coordonnées invalides".to_owned(),
            RowReason::DuplicateId { id } => format!("identifiant « {id} » en double"),
        }
    }
}

/// A row (CSV: its line number, header = 1) or feature (GeoJSON: its index) left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProblem {
    pub row: usize,
    pub reason: RowReason,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacesReport {
    pub rows_read: usize,
    pub imported: usize,
    /// Imported places without opening hours.
    pub without_hours: usize,
    pub problems: Vec<RowProblem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlacesImport {
    pub places: Vec<Place>,
    pub report: PlacesReport,
}

/// Why a whole file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum PlacesError {
    #[error("the CSV file has no header line")]
    NoHeader,
    #[error("no column gives coordinates (expected geo_point_2d, or lat and lon)")]
    NoCoordinateColumns,
    #[error("the file is not JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("the file is not a GeoJSON FeatureCollection")]
    NotAFeatureCollection,
}

const DAYS: [(&str, &str); 7] = [
    ("horaires_lundi", "lun."),
    ("horaires_mardi", "mar."),
    ("horaires_mercredi", "mer."),
    ("horaires_jeudi", "jeu."),
    ("horaires_vendredi", "ven."),
    ("horaires_samedi", "sam."),
    ("horaires_dimanche", "dim."),
];

/// Imports a CSV export (`;` or `,` separated, UTF-8, optional BOM).
pub fn import_places_csv(text: &str, kind: PlaceKind) -> Result<PlacesImport, PlacesError> {
    let text = text.trim_start_matches('\u{feff}');
    let first_line = text.lines().next().ok_or(PlacesError::NoHeader)?;
    let delimiter = if first_line.matches(';').count() >= first_line.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|_| PlacesError::NoHeader)?
        .iter()
        .map(normalise_column)
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(PlacesError::NoHeader);
    }
    let has = |c: &str| headers.iter().any(|h| h == c);
    if !(has("geo_point_2d") || (has("lat") || has("latitude")) && (has("lon") || has("longitude")))
    {
        return Err(PlacesError::NoCoordinateColumns);
    }
    let mut builder = Builder::new(kind);
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        builder.report.rows_read += 1;
        match record {
            Err(e) => builder.problem(
                row,
                RowReason::Malformed {
                    detail: csv_error_detail(&e),
                },
            ),
            Ok(record) => {
                let fields: BTreeMap<&str, &str> = headers
                    .iter()
                    .map(String::as_str)
                    .zip(record.iter())
                    .collect();
                builder.add(row, &fields, None);
            }
        }
    }
    Ok(builder.finish())
}

fn csv_error_detail(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} champs au lieu de {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "texte non UTF-8".to_owned(),
        _ => "format CSV".to_owned(),
    }
}

/// Imports a GeoJSON FeatureCollection: properties named as in the CSV export, geometry a
/// Point, or a Polygon/MultiPolygon (its centroid is used), or none with `geo_point_2d` in the
/// properties.
pub fn import_places_geojson(text: &str, kind: PlaceKind) -> Result<PlacesImport, PlacesError> {
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        PlacesError::NotJson {
            line: e.line(),
            column: e.column(),
        }
    })?;
    let features = match (value.get("type"), value.get("features")) {
        (Some(Value::String(t)), Some(Value::Array(f))) if t == "FeatureCollection" => f,
        _ => return Err(PlacesError::NotAFeatureCollection),
    };
    let mut builder = Builder::new(kind);
    for (row, feature) in features.iter().enumerate() {
        builder.report.rows_read += 1;
        let feature = match serde_json::from_value::<geojson::Feature>(feature.clone()) {
            Ok(f) => f,
            Err(e) => {
                builder.problem(
                    row,
                    RowReason::Malformed {
                        detail: first_words(&e.to_string()),
                    },
                );
                continue;
            }
        };
        let texts: BTreeMap<String, String> = feature
            .properties
            .iter()
            .flatten()
            .filter_map(|(k, v)| property_text(v).map(|t| (normalise_column(k), t)))
            .collect();
        let fields: BTreeMap<&str, &str> = texts
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let point = feature
            .geometry
            .as_ref()
            .and_then(|g| geometry_point(&g.value));
        builder.add(row, &fields, point);
    }
    Ok(builder.finish())
}

fn first_words(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A property as text; `geo_point_2d` exported as `{"lon":…, "lat":…}` or `[lat, lon]`
/// becomes `"lat, lon"`.
fn property_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "oui" } else { "non" }.to_owned()),
        Value::Object(o) => {
            let lat = o.get("lat")?.as_f64()?;
            let lon = o.get("lon")?.as_f64()?;
            Some(format!("{lat}, {lon}"))
        }
        Value::Array(a) => match a.as_slice() {
            [lat, lon] => Some(format!("{}, {}", lat.as_f64()?, lon.as_f64()?)),
            _ => None,
        },
    }
}

fn geometry_point(value: &geojson::GeometryValue) -> Option<(f64, f64)> {
    use geojson::GeometryValue as G;
    let point = match value {
        G::Point { coordinates } if coordinates.len() >= 2 => {
            return Some((coordinates[1], coordinates[0]));
        }
        G::Polygon { coordinates } => to_geo_polygon(coordinates).centroid()?,
        G::MultiPolygon { coordinates } => {
            ::geo::MultiPolygon::new(coordinates.iter().map(|p| to_geo_polygon(p)).collect())
                .centroid()?
        }
        _ => return None,
    };
    Some((point.y(), point.x()))
}

fn normalise_column(name: &str) -> String {
    name.trim().to_lowercase().replace([' ', '-'], "_")
}

/// Collects places and problems, refusing duplicate ids.
struct Builder {
    kind: PlaceKind,
    places: Vec<Place>,
    seen: BTreeSet<String>,
    report: PlacesReport,
}

impl Builder {
    fn new(kind: PlaceKind) -> Self {
        Self {
            kind,
            places: Vec::new(),
            seen: BTreeSet::new(),
            report: PlacesReport::default(),
        }
    }

    fn problem(&mut self, row: usize, reason: RowReason) {
        self.report.problems.push(RowProblem { row, reason });
    }

    fn add(&mut self, row: usize, fields: &BTreeMap<&str, &str>, geometry: Option<(f64, f64)>) {
        match place_from_fields(self.kind, fields, geometry) {
            Err(reason) => self.problem(row, reason),
            Ok(place) => {
                if !self.seen.insert(place.id.clone()) {
                    self.problem(row, RowReason::DuplicateId { id: place.id });
                } else {
                    if place.hours.is_none() {
                        self.report.without_hours += 1;
                    }
                    self.report.imported += 1;
                    self.places.push(place);
                }
            }
        }
    }

    fn finish(self) -> PlacesImport {
        PlacesImport {
            places: self.places,
            report: self.report,
        }
    }
}

fn field<'a>(fields: &BTreeMap<&str, &'a str>, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .filter_map(|n| fields.get(n))
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
}

fn coordinates(
    fields: &BTreeMap<&str, &str>,
    geometry: Option<(f64, f64)>,
) -> Result<(f64, f64), RowReason> {
    let (lat, lon) = if let Some(point) = geometry {
        point
    } else if let Some(text) = field(fields, &["geo_point_2d", "geo_point"]) {
        let (lat, lon) = text.split_once(',').ok_or(RowReason::BadCoordinates)?;
        (number(lat)?, number(lon)?)
    } else {
        match (
            field(fields, &["lat", "latitude"]),
            field(fields, &["lon", "lng", "longitude"]),
        ) {
            (Some(lat), Some(lon)) => (number(lat)?, number(lon)?),
            _ => return Err(RowReason::NoCoordinates),
        }
    };
    if lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0 {
        Ok((lat, lon))
    } else {
        Err(RowReason::BadCoordinates)
    }
}

fn number(text: &str) -> Result<f64, RowReason> {
    text.trim()
        .replace(',', ".")
        .parse()
        .map_err(|_| RowReason::BadCoordinates)
}

fn place_from_fields(
    kind: PlaceKind,
    fields: &BTreeMap<&str, &str>,
    geometry: Option<(f64, f64)>,
) -> Result<Place, RowReason> {
    let (lat, lon) = coordinates(fields, geometry)?;
    let id = field(fields, &["identifiant", "gid", "id", "objectid"])
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{lat:.6},{lon:.6}"));
    let street = field(fields, &["voie"]).map(|voie| {
        match field(fields, &["no_voirie_pair", "no_voirie_impair"]) {
            Some(n) => format!("{n} {voie}"),
            None => voie.to_owned(),
        }
    });
    let address = field(fields, &["adresse", "address"])
        .map(str::to_owned)
        .or(street.clone());
    let name = field(fields, &["nom", "name", "libelle"])
        .map(str::to_owned)
        .or_else(|| {
            let what = field(fields, &["type_objet", "type"]).unwrap_or(kind.label_fr());
            street.as_ref().map(|s| format!("{what} — {s}"))
        })
        .unwrap_or_else(|| kind.label_fr().to_owned());
    let arrondissement =
        field(fields, &["arrondissement", "code_postal", "commune", "cp"]).map(str::to_owned);
    let available = field(fields, &["dispo", "disponible"]).map(|d| {
        !matches!(
            d.to_lowercase().as_str(),
            "non" | "no" | "false" | "0" | "indisponible"
        )
    });
    Ok(Place {
        id,
        kind,
        name,
        lat,
        lon,
        address,
        arrondissement,
        hours: hours(fields),
        available,
    })
}

fn hours(fields: &BTreeMap<&str, &str>) -> Option<String> {
    if let Some(h) = field(fields, &["horaires", "horaires_ouverture", "opening_hours"]) {
        return Some(h.to_owned());
    }
    if field(fields, &["ouvert_24h"]).is_some_and(|v| v.eq_ignore_ascii_case("oui")) {
        return Some("24 h/24".to_owned());
    }
    let days: Vec<String> = DAYS
        .iter()
        .filter_map(|(column, day)| field(fields, &[column]).map(|h| format!("{day} : {h}")))
        .collect();
    (!days.is_empty()).then(|| days.join(" ; "))
}

/// A place and its distance from the asked position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nearby {
    pub place: Place,
    /// Great-circle distance (haversine), rounded to the metre.
    pub distance_m: u32,
}

/// The `n` places nearest to `from` (of `kind` if given), nearest first; ties by id.
/// Unavailable fountains are left out.
pub fn nearest(places: &[Place], from: Position, n: usize, kind: Option<PlaceKind>) -> Vec<Nearby> {
    let origin = Point::new(from.lon, from.lat);
    let mut all: Vec<(f64, &Place)> = places
        .iter()
        .filter(|p| kind.is_none_or(|k| p.kind == k) && p.available != Some(false))
        .map(|p| (Haversine.distance(origin, Point::new(p.lon, p.lat)), p))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    all.into_iter()
        .take(n)
        .map(|(d, p)| Nearby {
            place: p.clone(),
            distance_m: d.round().clamp(0.0, f64::from(u32::MAX)) as u32,
        })
        .collect()
}

#[cfg(test)]
#[path = "places_tests.rs"]
mod tests;
