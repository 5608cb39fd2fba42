#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::json;

use super::*;

/// Les Halles area (1er), a rough real-world quadrilateral.
fn halles() -> Value {
    json!({"type":"Polygon","coordinates":[[
        [2.3405,48.8598],[2.3489,48.8591],[2.3502,48.8630],[2.3420,48.8641],[2.3405,48.8598]]]})
}

/// Square du Temple (3e) with the garden as a hole: a polygon with an interior ring.
fn temple_with_hole() -> Value {
    json!({"type":"Polygon","coordinates":[
        [[2.3580,48.8620],[2.3650,48.8620],[2.3650,48.8670],[2.3580,48.8670],[2.3580,48.8620]],
        [[2.3600,48.8635],[2.3625,48.8635],[2.3625,48.8655],[2.3600,48.8655],[2.3600,48.8635]]]})
}

/// Bois de Vincennes as two parts (the woods are cut by the Route de la Pyramide).
fn vincennes_multi() -> Value {
    json!({"type":"MultiPolygon","coordinates":[
        [[[2.4120,48.8300],[2.4400,48.8300],[2.4400,48.8420],[2.4120,48.8420],[2.4120,48.8300]]],
        [[[2.4450,48.8250],[2.4700,48.8250],[2.4700,48.8400],[2.4450,48.8400],[2.4450,48.8250]]]]})
}

fn feature(geometry: Value, properties: Value) -> Value {
    json!({"type":"Feature","geometry":geometry,"properties":properties})
}

fn collection(features: Vec<Value>) -> String {
    json!({"type":"FeatureCollection","features":features}).to_string()
}

fn problems(issues: &[FeatureIssue]) -> Vec<(Option<usize>, FeatureProblem)> {
    issues
        .iter()
        .map(|i| (i.index, i.problem.clone()))
        .collect()
}

#[test]
fn imports_polygons_holes_and_multipolygons_with_property_spellings() {
    let text = collection(vec![
        feature(
            halles(),
            json!({"name":"Halles","arrondissement":1,"id":"P1-01"}),
        ),
        feature(temple_with_hole(), json!({"NOM":"Temple","c_ar":"75103"})),
        feature(vincennes_multi(), json!({"nom":"Bois de Vincennes"})),
        feature(
            halles(),
            json!({"libelle":"Halles bis","arr":"1er","code":"P1-02"}),
        ),
    ]);
    let import = import_sectors(&text).unwrap();
    let ids: Vec<&str> = import.sectors.iter().map(|(id, _)| id.0.as_str()).collect();
    assert_eq!(ids, ["P1-01", "S002", "S003", "P1-02"]);
    let arr: Vec<Option<u8>> = import
        .sectors
        .iter()
        .map(|(_, s)| s.arrondissement)
        .collect();
    assert_eq!(arr, [Some(1), Some(3), None, Some(1)]);
    assert_eq!(import.sectors[1].1.name, "Temple");
    // The woods have no arrondissement: imported, with a warning.
    assert_eq!(
        problems(&import.warnings),
        [(Some(2), FeatureProblem::NoArrondissement)]
    );
    assert_eq!(import.warnings[0].severity, Severity::Warning);
    // The stored geometry is read back by the sector index, hole included.
    let sectors = import.sectors.into_iter().collect();
    let index = SectorIndex::new(&sectors);
    assert!(index.unreadable().is_empty());
    let in_garden = crate::model::Position {
        lat: 48.8645,
        lon: 2.3612,
    };
    assert_eq!(index.locate(in_garden), None);
    let in_second_part = crate::model::Position {
        lat: 48.83,
        lon: 2.46,
    };
    assert_eq!(
        index.locate(in_second_part).map(|(id, _)| id.0.as_str()),
        Some("S003")
    );
}

use super::super::SectorIndex;

#[test]
fn every_invalid_feature_is_reported_and_nothing_is_imported() {
    let unclosed = json!({"type":"Polygon","coordinates":[[
        [2.34,48.85],[2.35,48.85],[2.35,48.86],[2.34,48.86]]]});
    let too_few =
        json!({"type":"Polygon","coordinates":[[[2.34,48.85],[2.35,48.85],[2.34,48.85]]]});
    // A bow tie: the ring crosses itself.
    let bow_tie = json!({"type":"Polygon","coordinates":[[
        [2.34,48.85],[2.35,48.86],[2.35,48.85],[2.34,48.86],[2.34,48.85]]]});
    let out_of_range = json!({"type":"Polygon","coordinates":[[
        [2.34,48.85],[200.0,48.85],[2.35,48.86],[2.34,48.85]]]});
    let line = json!({"type":"LineString","coordinates":[[2.34,48.85],[2.35,48.86]]});
    let malformed = json!({"type":"Polygon","coordinates":[2.34,48.85]});
    let text = collection(vec![
        feature(halles(), json!({"name":"ok","arrondissement":1,"id":"A"})),
        feature(unclosed, json!({"name":"b","arrondissement":2})),
        feature(too_few, json!({"name":"c","arrondissement":2})),
        feature(bow_tie, json!({"name":"d","arrondissement":2})),
        feature(out_of_range, json!({"name":"e","arrondissement":2})),
        feature(line, json!({"name":"f","arrondissement":2})),
        feature(halles(), json!({"arrondissement":2})),
        feature(halles(), json!({"name":"h","arrondissement":21,"id":"A"})),
        feature(malformed, json!({"name":"i","arrondissement":2})),
        json!({"type":"Feature","properties":{"name":"j"}}),
        json!(42),
    ]);
    let issues = import_sectors(&text).unwrap_err();
    let ring0 = RingRef {
        polygon: 0,
        ring: 0,
    };
    assert_eq!(
        problems(&issues),
        [
            (Some(1), FeatureProblem::UnclosedRing { at: ring0 }),
            (Some(2), FeatureProblem::TooFewPositions { at: ring0 }),
            (Some(3), FeatureProblem::SelfIntersection { at: ring0 }),
            (Some(4), FeatureProblem::CoordinateOutOfRange { at: ring0 }),
            (
                Some(5),
                FeatureProblem::WrongGeometryType {
                    found: "LineString".into()
                }
            ),
            (Some(6), FeatureProblem::MissingName),
            (Some(7), FeatureProblem::NoArrondissement),
            (
                Some(7),
                FeatureProblem::DuplicateId {
                    id: "A".into(),
                    first_index: 0
                }
            ),
            (Some(8), FeatureProblem::MalformedGeometry),
            (Some(9), FeatureProblem::NoGeometry),
            (Some(9), FeatureProblem::NoArrondissement),
            (Some(10), FeatureProblem::NotAFeature),
        ]
    );
    assert_eq!(issues[6].severity, Severity::Warning);
    // Every reason has a French message.
    assert!(issues.iter().all(|i| !i.problem.message_fr().is_empty()));
}

#[test]
fn hole_outside_its_shell_and_overlapping_parts_are_refused() {
    let stray_hole = json!({"type":"Polygon","coordinates":[
        [[2.34,48.85],[2.35,48.85],[2.35,48.86],[2.34,48.86],[2.34,48.85]],
        [[2.36,48.85],[2.37,48.85],[2.37,48.86],[2.36,48.86],[2.36,48.85]]]});
    let overlapping = json!({"type":"MultiPolygon","coordinates":[
        [[[2.34,48.85],[2.36,48.85],[2.36,48.86],[2.34,48.86],[2.34,48.85]]],
        [[[2.35,48.85],[2.37,48.85],[2.37,48.86],[2.35,48.86],[2.35,48.85]]]]});
    let text = collection(vec![
        feature(stray_hole, json!({"name":"a","arrondissement":4})),
        feature(overlapping, json!({"name":"b","arrondissement":4})),
    ]);
    let issues = import_sectors(&text).unwrap_err();
    assert_eq!(
        problems(&issues),
        [
            (
                Some(0),
                FeatureProblem::HoleOutsideExterior {
                    at: RingRef {
                        polygon: 0,
                        ring: 1
                    }
                }
            ),
            (
                Some(1),
                FeatureProblem::PartsOverlap {
                    first: 0,
                    second: 1
                }
            ),
        ]
    );
}

#[test]
fn broken_json_and_other_documents_are_refused_as_a_whole() {
    for (text, problem) in [
        (
            "{\"type\":\"FeatureCollection\",\"features\":[",
            FeatureProblem::NotJson,
        ),
        ("", FeatureProblem::NotJson),
        (
            r#"{"type":"Feature","geometry":null}"#,
            FeatureProblem::NotAFeatureCollection,
        ),
        (
            r#"{"type":"FeatureCollection","features":[]}"#,
            FeatureProblem::NoFeatures,
        ),
    ] {
        assert_eq!(
            problems(&import_sectors(text).unwrap_err()),
            [(None, problem)]
        );
    }
}

#[test]
fn arrondissement_spellings() {
    for (v, expected) in [
        (json!(1), Some(1)),
        (json!(20), Some(20)),
        (json!(4.0), Some(4)),
        (json!("12"), Some(12)),
        (json!(" 1er "), Some(1)),
        (json!("16e"), Some(16)),
        (json!("5ème"), Some(5)),
        (json!(75116), Some(16)),
        (json!("75101"), Some(1)),
        (json!(0), None),
        (json!(21), None),
        (json!(-3), None),
        (json!(75121), None),
        (json!("Vincennes"), None),
        (json!(true), None),
    ] {
        assert_eq!(parse_arrondissement(&v), expected, "{v}");
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-400.0f64..400.0).prop_map(|f| json!(f)),
        any::<i64>().prop_map(|i| json!(i)),
        prop::sample::select(vec![
            "Feature",
            "FeatureCollection",
            "Polygon",
            "MultiPolygon",
            "Point",
            "name",
            "1er",
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "type",
                        "features",
                        "geometry",
                        "coordinates",
                        "properties",
                        "name",
                        "arrondissement",
                        "id",
                    ]),
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sector_import_never_panics_on_any_text(text in ".{0,200}") {
        let _ = import_sectors(&text);
    }

    #[test]
    fn sector_import_never_panics_on_geojson_like_values(
        features in prop::collection::vec(arb_json(), 0..6),
        rings in prop::collection::vec(
            prop::collection::vec((-200.0f64..200.0, -100.0f64..100.0), 0..7), 0..3),
    ) {
        let polygon = json!({"type":"Polygon","coordinates":rings
            .iter()
            .map(|r| r.iter().map(|(x, y)| json!([x, y])).collect::<Vec<_>>())
            .collect::<Vec<_>>()});
        let mut all = features;
        all.push(feature(polygon, json!({"name":"x","arrondissement":3})));
        let text = collection(all);
        match import_sectors(&text) {
            // Whatever is imported is readable by the index.
            Ok(import) => {
                for (_, sector) in &import.sectors {
                    prop_assert!(parse_sector_geometry(&sector.geojson).is_ok());
                }
            }
            Err(issues) => prop_assert!(issues.iter().any(|i| i.severity == Severity::Error)),
        }
    }
}

use super::super::parse_sector_geometry;
