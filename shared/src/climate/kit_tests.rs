#![allow(clippy::unwrap_used)]

use super::*;

const DEFAULT_KIT: &str = include_str!("../../kits/canicule.json");

#[test]
fn the_default_kit_imports_cleanly() {
    let import = parse_kit(DEFAULT_KIT).unwrap();
    assert!(import.report.is_clean(), "{:?}", import.report);
    let kit = import.kit;
    assert_eq!(kit.title, "Le volontaire et la canicule");
    let visit = kit.checklist("visite").unwrap();
    let ids: Vec<&str> = visit.items.iter().map(|i| i.id.as_str()).collect();
    for expected in [
        "eau",
        "temperature-piece",
        "volets",
        "ventilateur",
        "signes-coup-de-chaleur",
        "signes-deshydratation",
        "salle-rafraichie",
        "inscription-3975",
    ] {
        assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
    }
    let numbers: Vec<&str> = kit
        .emergency_numbers
        .iter()
        .map(|n| n.number.as_str())
        .collect();
    for expected in ["15", "112", "3975", "18"] {
        assert!(numbers.contains(&expected), "{expected}");
    }
    for level in AlertLevel::ALL {
        assert!(!kit.actions(level).is_empty(), "{level:?}");
    }
}

#[test]
fn unknown_fields_are_reported_with_their_path_and_the_rest_imported() {
    let text = r#"{"format":1,"id":"k","title":"T","colour":"red",
        "sections":[{"id":"a","title":"A","paragraphs":["p"],"image":"x.png"}],
        "checklists":[{"id":"c","title":"C","items":[{"id":"i","label":"L","weight":2}]}],
        "emergency_numbers":[{"number":"15","label":"SAMU","when":"urgence"}],
        "level_actions":{"vert":[],"jaune":[],"orange":[],"rouge":["x"],"violet":[]}}"#;
    let import = parse_kit(text).unwrap();
    assert_eq!(
        import.report.unknown_fields,
        vec![
            "colour",
            "sections[0].image",
            "checklists[0].items[0].weight",
            "level_actions.violet"
        ]
    );
    assert!(import.report.missing_sections.is_empty());
    assert_eq!(import.kit.sections.len(), 1);
    assert_eq!(import.kit.checklists[0].items[0].id, "i");
    assert_eq!(import.kit.actions(AlertLevel::Red), ["x"]);
}

#[test]
fn missing_sections_are_reported_and_present_ones_imported() {
    let text = r#"{"format":1,"id":"k","title":"T",
        "checklists":[{"id":"c","title":"C","items":[{"id":"i","label":"L"}]}],
        "level_actions":{"vert":["v"],"rouge":["r"]}}"#;
    let import = parse_kit(text).unwrap();
    assert_eq!(
        import.report.missing_sections,
        vec![
            "sections",
            "emergency_numbers",
            "level_actions.jaune",
            "level_actions.orange"
        ]
    );
    assert_eq!(import.kit.checklists.len(), 1);
    assert_eq!(import.kit.actions(AlertLevel::Green), ["v"]);
    assert!(import.kit.actions(AlertLevel::Orange).is_empty());
}

#[test]
fn bad_entries_are_rejected_one_by_one() {
    let text = r#"{"format":1,"id":"k","title":"T",
        "sections":[{"id":"a","title":"A","paragraphs":["p"]},{"id":"a","title":"B","paragraphs":[]},
                    {"title":"no id","paragraphs":[]}, 3],
        "checklists":[{"id":"Visite Maison","title":"C","items":[]},
                      {"id":"v","title":"V","items":[{"id":"x","label":"1"},{"id":"x","label":"2"},{"id":"y"}]}],
        "emergency_numbers":"15",
        "level_actions":{"vert":"boire","jaune":[],"orange":[],"rouge":[]}}"#;
    let import = parse_kit(text).unwrap();
    let paths: Vec<&str> = import
        .report
        .rejected
        .iter()
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        paths,
        vec![
            "sections[1]",
            "sections[2]",
            "sections[3]",
            "checklists[0]",
            "checklists[1].items[1]",
            "checklists[1].items[2]",
            "emergency_numbers",
            "level_actions.vert"
        ]
    );
    assert_eq!(import.kit.sections.len(), 1);
    assert_eq!(import.kit.checklists.len(), 1);
    assert_eq!(import.kit.checklists[0].items.len(), 1);
}

#[test]
fn files_that_cannot_be_a_kit_are_refused() {
    assert!(matches!(
        parse_kit("{\"id\": "),
        Err(KitError::NotJson { line: 1, .. })
    ));
    assert_eq!(parse_kit("[1,2]"), Err(KitError::NotAnObject));
    assert_eq!(
        parse_kit(r#"{"format":2,"id":"k","title":"T"}"#),
        Err(KitError::UnsupportedFormat {
            found: 2,
            supported: 1
        })
    );
    assert_eq!(
        parse_kit(r#"{"format":1,"id":"k","title":"  "}"#),
        Err(KitError::MissingField { field: "title" })
    );
}

proptest::proptest! {
    /// Dropping any top-level section of the default kit still imports the others and
    /// names the dropped one.
    #[test]
    fn dropping_a_section_reports_it_and_keeps_the_rest(which in 0usize..4) {
        let mut value: Value = serde_json::from_str(DEFAULT_KIT).unwrap();
        let name = ["sections", "checklists", "emergency_numbers", "level_actions"][which];
        value.as_object_mut().unwrap().remove(name);
        let import = parse_kit(&value.to_string()).unwrap();
        proptest::prop_assert_eq!(import.report.missing_sections, vec![name.to_owned()]);
        proptest::prop_assert_eq!(import.kit.sections.is_empty(), name == "sections");
        proptest::prop_assert_eq!(import.kit.checklists.is_empty(), name == "checklists");
        proptest::prop_assert_eq!(import.kit.level_actions.is_empty(), name == "level_actions");
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse_kit(&text);
    }

    #[test]
    fn parsing_arbitrary_json_objects_never_panics(
        keys in proptest::collection::vec("[a-z_]{1,12}", 0..8),
        numbers in proptest::collection::vec(proptest::prelude::any::<i64>(), 8),
    ) {
        let mut obj = Map::new();
        obj.insert("id".into(), Value::from("k"));
        obj.insert("title".into(), Value::from("T"));
        for (k, n) in keys.iter().zip(&numbers) {
            obj.insert(k.clone(), Value::from(*n));
        }
        let _ = parse_kit(&Value::Object(obj).to_string());
    }
}
