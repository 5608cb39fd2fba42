//! Places where people can cool down or drink: cool rooms, cool green spaces, drinking
//! fountains, imported from Paris open data (CSV or GeoJSON exports of opendata.paris.fr; the
//! columns are listed in `shared/kits/FORMAT.md`), and the nearest ones to a position.
//!
//! An import never fails on one bad row: malformed rows, rows without coordinates and
//! duplicate ids are listed in the [`PlacesReport`] and the other rows are imported. Opening
//! hours are optional.

use std::collections::{BTreeMap, BTreeSet};

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
        G::Polygon { coordinates } => polygon(coordinates).centroid()?,
        G::MultiPolygon { coordinates } => {
            ::geo::MultiPolygon::new(coordinates.iter().map(|p| polygon(p)).collect()).centroid()?
        }
        _ => return None,
    };
    Some((point.y(), point.x()))
}

fn polygon(rings: &[Vec<geojson::Position>]) -> ::geo::Polygon<f64> {
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FOUNTAINS: &str = include_str!("../../kits/fixtures/fontaines-a-boire.csv");
    const COOL_ROOMS: &str = include_str!("../../kits/fixtures/ilots-de-fraicheur-equipements.csv");
    const GREEN: &str =
        include_str!("../../kits/fixtures/ilots-de-fraicheur-espaces-verts.geojson");

    #[test]
    fn fountains_csv_in_the_open_data_shape_imports_with_problems_listed() {
        let import = import_places_csv(FOUNTAINS, PlaceKind::Fountain).unwrap();
        let r = &import.report;
        assert_eq!(r.rows_read, 6);
        assert_eq!(r.imported, 4);
        assert_eq!(
            r.problems,
            vec![
                RowProblem {
                    row: 5,
                    reason: RowReason::NoCoordinates
                },
                RowProblem {
                    row: 6,
                    reason: RowReason::Malformed {
                        detail: "5 champs au lieu de 13".to_owned()
                    }
                },
            ]
        );
        // Fountains publish no hours: imported anyway.
        assert_eq!(r.without_hours, 4);
        let first = &import.places[0];
        assert_eq!(first.id, "450024946");
        assert_eq!(first.name, "BORNE_FONTAINE — 12 RUE DE RIVOLI");
        assert!((first.lat - 48.85547).abs() < 1e-9 && (first.lon - 2.35778).abs() < 1e-9);
        assert_eq!(first.available, Some(true));
        assert_eq!(import.places[3].available, Some(false));
    }

    #[test]
    fn cool_rooms_keep_their_weekly_hours_and_tolerate_missing_ones() {
        let import = import_places_csv(COOL_ROOMS, PlaceKind::CoolRoom).unwrap();
        assert_eq!(import.report.imported, 3);
        assert_eq!(import.report.without_hours, 1);
        assert_eq!(
            import.report.problems,
            vec![RowProblem {
                row: 5,
                reason: RowReason::BadCoordinates
            }]
        );
        let mairie = &import.places[0];
        assert_eq!(mairie.name, "Mairie du 11e — salle rafraîchie");
        assert_eq!(
            mairie.hours.as_deref(),
            Some("lun. : 14:00-18:00 ; mar. : 14:00-18:00 ; sam. : 10:00-12:00")
        );
        assert_eq!(mairie.arrondissement.as_deref(), Some("75011"));
        assert_eq!(import.places[2].hours, None);
    }

    #[test]
    fn green_spaces_geojson_uses_points_centroids_or_geo_point_2d() {
        let import = import_places_geojson(GREEN, PlaceKind::GreenSpace).unwrap();
        assert_eq!(import.report.rows_read, 5);
        assert_eq!(import.report.imported, 3);
        assert_eq!(
            import.report.problems,
            vec![
                RowProblem {
                    row: 3,
                    reason: RowReason::NoCoordinates
                },
                RowProblem {
                    row: 4,
                    reason: RowReason::DuplicateId {
                        id: "EV-1".to_owned()
                    }
                },
            ]
        );
        let square = &import.places[1];
        // Centroid of the square polygon.
        assert!((square.lat - 48.86).abs() < 1e-9 && (square.lon - 2.36).abs() < 1e-9);
        assert_eq!(square.hours.as_deref(), Some("24 h/24"));
        let third = &import.places[2];
        assert!((third.lat - 48.87).abs() < 1e-9 && (third.lon - 2.38).abs() < 1e-9);
    }

    #[test]
    fn whole_file_errors() {
        assert_eq!(
            import_places_csv("", PlaceKind::Fountain),
            Err(PlacesError::NoHeader)
        );
        assert_eq!(
            import_places_csv("nom;adresse\nA;B\n", PlaceKind::CoolRoom),
            Err(PlacesError::NoCoordinateColumns)
        );
        assert_eq!(
            import_places_geojson("{\"type\":\"Feature\"}", PlaceKind::Fountain),
            Err(PlacesError::NotAFeatureCollection)
        );
        assert!(matches!(
            import_places_geojson("{", PlaceKind::Fountain),
            Err(PlacesError::NotJson { .. })
        ));
    }

    fn place(id: &str, kind: PlaceKind, lat: f64, lon: f64) -> Place {
        Place {
            id: id.to_owned(),
            kind,
            name: id.to_owned(),
            lat,
            lon,
            address: None,
            arrondissement: None,
            hours: None,
            available: None,
        }
    }

    #[test]
    fn nearest_sorts_by_haversine_distance_and_filters_by_kind() {
        // Place de la République; Bastille is ~1.6 km away, Nation ~3.2 km (flat-earth estimate).
        let here = Position {
            lat: 48.8674,
            lon: 2.3636,
        };
        let mut broken = place("broken", PlaceKind::Fountain, 48.8675, 2.3636);
        broken.available = Some(false);
        let places = vec![
            place("nation", PlaceKind::CoolRoom, 48.8483, 2.3959),
            place("bastille", PlaceKind::Fountain, 48.8532, 2.3691),
            place("republique", PlaceKind::Fountain, 48.8674, 2.3637),
            broken,
        ];
        let near = nearest(&places, here, 2, None);
        let ids: Vec<&str> = near.iter().map(|n| n.place.id.as_str()).collect();
        assert_eq!(ids, ["republique", "bastille"]);
        assert_eq!(near[0].distance_m, 7);
        assert!(
            (1_550..1_700).contains(&near[1].distance_m),
            "{}",
            near[1].distance_m
        );
        let rooms = nearest(&places, here, 5, Some(PlaceKind::CoolRoom));
        assert_eq!(rooms.len(), 1);
        assert!(
            (3_100..3_300).contains(&rooms[0].distance_m),
            "{}",
            rooms[0].distance_m
        );
    }

    proptest::proptest! {
        #[test]
        fn csv_import_never_panics_and_accounts_for_every_row(
            rows in proptest::collection::vec("[a-z0-9 ,.;\"-]{0,40}", 0..20)
        ) {
            let text = format!("gid;voie;geo_point_2d\n{}", rows.join("\n"));
            if let Ok(import) = import_places_csv(&text, PlaceKind::Fountain) {
                let r = import.report;
                proptest::prop_assert_eq!(r.imported + r.problems.len(), r.rows_read);
                proptest::prop_assert_eq!(import.places.len(), r.imported);
            }
        }

        #[test]
        fn nearest_is_sorted_and_bounded(
            coords in proptest::collection::vec((48.8f64..48.9, 2.25f64..2.42), 0..30),
            n in 0usize..10,
        ) {
            let places: Vec<Place> = coords
                .iter()
                .enumerate()
                .map(|(i, (lat, lon))| place(&i.to_string(), PlaceKind::Fountain, *lat, *lon))
                .collect();
            let near = nearest(&places, Position { lat: 48.85, lon: 2.35 }, n, None);
            proptest::prop_assert_eq!(near.len(), n.min(places.len()));
            proptest::prop_assert!(near.windows(2).all(|w| w[0].distance_m <= w[1].distance_m));
        }
    }
}
