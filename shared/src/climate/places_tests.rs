#![allow(clippy::unwrap_used)]

use super::*;

const FOUNTAINS: &str = include_str!("../../kits/fixtures/fontaines-a-boire.csv");
const COOL_ROOMS: &str = include_str!("../../kits/fixtures/ilots-de-fraicheur-equipements.csv");
const GREEN: &str = include_str!("../../kits/fixtures/ilots-de-fraicheur-espaces-verts.geojson");

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
