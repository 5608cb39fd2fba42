//! The climate documents, in the style of [`crate::doc`] (`schema` + `kind` at the root,
//! scalar strings, Automerge timestamps, readers generic over [`ReadDoc`]). Writers are generic
//! over [`Transactable`], so they run inside the `net` driver's transactions as well as on an
//! `AutoCommit` (where the caller commits); they make small changes and check the header first.
//!
//! `kit` (written by coordinators, read by volunteers), root keys: `schema`, `kind` = "kit",
//! `kit` (the published [`Kit`] as one JSON string: a publication replaces it whole),
//! `publishedAt`, `alert` (a map `{level, setAt}` replaced whole, so that two coordinators
//! setting the level concurrently give one whole winner), `places` (`"<kind>:<id>"` -> the
//! [`Place`] as JSON; a re-import only writes the places that changed).
//!
//! `field` (one per volunteer group, written by its devices), root keys: `schema`, `kind` =
//! "field", `groupId`, `name`, `visits` (client-made UUID v7 -> visit map), `handedOut`
//! (handout code -> Counter, all created with the document: see `doc/team.rs` for why). A
//! visit holds no name and no address: `at`, `area` (arrondissement), `checklistId`, `ticks`
//! (item id -> bool: ticks of different items from two devices merge; the same item set
//! concurrently resolves to Automerge's deterministic winner), `items` (handout -> Counter,
//! one per kind made with the visit, so that +/− on two devices add up: `handouts.rs`; visits
//! written by earlier builds hold plain integers, read alike), `alert` (bool).

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::kit::Kit;
use super::places::{Place, PlaceKind};
use super::{AlertLevel, Area, Handout};
use crate::doc::values::{self, opt, req};
use crate::doc::{DocError, SCHEMA_VERSION};
use crate::model::Millis;

const KIND_KIT: &str = "kit";
pub(super) const KIND_FIELD: &str = "field";

fn init_header<T: Transactable>(tx: &mut T, kind: &str) -> Result<(), DocError> {
    if tx.get(ROOT, "schema")?.is_some() || tx.get(ROOT, "kind")?.is_some() {
        return Err(DocError::AlreadyInitialised);
    }
    tx.put(ROOT, "schema", ScalarValue::Uint(SCHEMA_VERSION))?;
    put_str(tx, &ROOT, "kind", kind)
}

pub(super) fn check_header<D: ReadDoc>(doc: &D, kind: &'static str) -> Result<(), DocError> {
    let found = opt(doc, &ROOT, "schema", values::as_u64)?.ok_or(DocError::MissingSchema)?;
    if found == 0 || found > SCHEMA_VERSION {
        return Err(DocError::UnsupportedSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if req(doc, &ROOT, "kind", values::as_str)? != kind {
        return Err(DocError::WrongKind { expected: kind });
    }
    Ok(())
}

fn put_str<T: Transactable>(tx: &mut T, obj: &ObjId, key: &str, v: &str) -> Result<(), DocError> {
    tx.put(obj, key, ScalarValue::Str(v.into()))?;
    Ok(())
}

fn json<T: Serialize>(value: &T) -> Result<String, DocError> {
    serde_json::to_string(value).map_err(|_| DocError::Invalid("value does not serialise to JSON"))
}

// ---- kit ------------------------------------------------------------------------------------

/// The current alert level and when it was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertState {
    pub level: AlertLevel,
    pub set_at: Millis,
}

/// The `kit` document as volunteers read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KitDocument {
    /// `None` until a coordinator publishes a kit.
    pub kit: Option<Kit>,
    pub published_at: Option<Millis>,
    pub alert: AlertState,
    /// Imported places (sorted by key) followed by the kit's own places.
    pub places: Vec<Place>,
}

impl KitDocument {
    /// What to do at the current level.
    pub fn current_actions(&self) -> &[String] {
        self.kit
            .as_ref()
            .map(|k| k.actions(self.alert.level))
            .unwrap_or_default()
    }
}

/// Initialises an empty document as the kit document: no kit yet, level green (veille).
pub fn create_kit_doc<T: Transactable>(tx: &mut T, now: Millis) -> Result<(), DocError> {
    init_header(tx, KIND_KIT)?;
    tx.put_object(ROOT, "places", ObjType::Map)?;
    put_alert(tx, AlertLevel::Green, now)
}

/// Publishes `kit`, replacing the previous one whole.
pub fn publish_kit<T: Transactable>(tx: &mut T, kit: &Kit, now: Millis) -> Result<(), DocError> {
    check_header(tx, KIND_KIT)?;
    put_str(tx, &ROOT, "kit", &json(kit)?)?;
    tx.put(ROOT, "publishedAt", ScalarValue::Timestamp(now))?;
    Ok(())
}

pub fn set_alert_level<T: Transactable>(
    tx: &mut T,
    level: AlertLevel,
    now: Millis,
) -> Result<(), DocError> {
    check_header(tx, KIND_KIT)?;
    put_alert(tx, level, now)
}

fn put_alert<T: Transactable>(tx: &mut T, level: AlertLevel, now: Millis) -> Result<(), DocError> {
    let alert = tx.put_object(ROOT, "alert", ObjType::Map)?;
    put_str(tx, &alert, "level", level.code())?;
    tx.put(&alert, "setAt", ScalarValue::Timestamp(now))?;
    Ok(())
}

/// Writes the places that are new or differ from the stored ones; returns how many.
pub fn upsert_places<T: Transactable>(tx: &mut T, places: &[Place]) -> Result<usize, DocError> {
    check_header(tx, KIND_KIT)?;
    let map = values::req_map(tx, &ROOT, "places")?;
    let mut written = 0;
    for place in places {
        let key = place.key();
        let text = json(place)?;
        let same = opt(tx, &map, &key, values::as_str)?.is_some_and(|stored| stored == text);
        if !same {
            put_str(tx, &map, &key, &text)?;
            written += 1;
        }
    }
    Ok(written)
}

/// Deletes the places of `kind` whose id is not in `keep`; returns how many.
pub fn remove_places_except<T: Transactable>(
    tx: &mut T,
    kind: PlaceKind,
    keep: &BTreeSet<String>,
) -> Result<usize, DocError> {
    check_header(tx, KIND_KIT)?;
    let map = values::req_map(tx, &ROOT, "places")?;
    let prefix = format!("{}:", kind.code());
    let doomed: Vec<String> = tx
        .keys(&map)
        .filter(|k| k.strip_prefix(&prefix).is_some_and(|id| !keep.contains(id)))
        .collect();
    for key in &doomed {
        tx.delete(&map, key.as_str())?;
    }
    Ok(doomed.len())
}

pub fn read_kit_doc<D: ReadDoc>(doc: &D) -> Result<KitDocument, DocError> {
    check_header(doc, KIND_KIT)?;
    let kit: Option<Kit> = opt(doc, &ROOT, "kit", values::json)?;
    let alert = values::req_map(doc, &ROOT, "alert")?;
    let alert = AlertState {
        level: req(doc, &alert, "level", |v, i, k| {
            values::code(v, i, k, AlertLevel::from_code)
        })?,
        set_at: req(doc, &alert, "setAt", values::as_timestamp)?,
    };
    let map = values::req_map(doc, &ROOT, "places")?;
    let mut places = Vec::new();
    for key in doc.keys(&map) {
        places.push(req::<_, Place>(doc, &map, &key, values::json)?);
    }
    if let Some(kit) = &kit {
        places.extend(kit.places.iter().cloned());
    }
    Ok(KitDocument {
        kit,
        published_at: opt(doc, &ROOT, "publishedAt", values::as_timestamp)?,
        alert,
        places,
    })
}

// ---- field ----------------------------------------------------------------------------------

/// One pseudonymous visit: nothing in it names or locates a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    pub id: Uuid,
    pub at: Millis,
    pub area: Area,
    pub checklist_id: String,
    /// Item id -> ticked.
    pub ticks: BTreeMap<String, bool>,
    /// Items handed out during the visit.
    pub items: BTreeMap<Handout, u32>,
    /// The volunteer raised an alert (called 15/112, or flagged for the coordination).
    pub alert: bool,
}

/// A volunteer group's `field` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub group_id: Uuid,
    pub name: String,
    pub visits: BTreeMap<Uuid, Visit>,
    /// Running totals (visits' items plus handouts outside visits).
    pub handed_out: BTreeMap<Handout, i64>,
}

/// Initialises an empty document as a group's field document, with every handout counter at
/// zero (counters created concurrently by two devices would lose one side's increments).
pub fn create_field_doc<T: Transactable>(
    tx: &mut T,
    group_id: Uuid,
    name: &str,
) -> Result<(), DocError> {
    init_header(tx, KIND_FIELD)?;
    put_str(tx, &ROOT, "groupId", &group_id.to_string())?;
    put_str(tx, &ROOT, "name", name)?;
    tx.put_object(ROOT, "visits", ObjType::Map)?;
    let counters = tx.put_object(ROOT, "handedOut", ObjType::Map)?;
    for h in Handout::ALL {
        tx.put(&counters, h.code(), ScalarValue::counter(0))?;
    }
    Ok(())
}

fn valid_item_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub(super) fn increment<T: Transactable>(tx: &mut T, h: Handout, n: i64) -> Result<(), DocError> {
    let counters = values::req_map(tx, &ROOT, "handedOut")?;
    match tx.get(&counters, h.code())? {
        Some((Value::Scalar(s), _)) if s.is_counter() => {}
        Some(_) => {
            return Err(DocError::WrongType {
                key: h.code().to_owned(),
                expected: "counter",
            });
        }
        // Only for documents made by other code; see `create_field_doc`.
        None => tx.put(&counters, h.code(), ScalarValue::counter(0))?,
    }
    tx.increment(&counters, h.code(), n)?;
    Ok(())
}

/// Logs a visit and adds its items to the group's counters.
pub fn record_visit<T: Transactable>(tx: &mut T, visit: &Visit) -> Result<(), DocError> {
    check_header(tx, KIND_FIELD)?;
    if !valid_item_id(&visit.checklist_id) || !visit.ticks.keys().all(|k| valid_item_id(k)) {
        return Err(DocError::Invalid(
            "checklist and item ids are short lowercase codes",
        ));
    }
    let visits = values::req_map(tx, &ROOT, "visits")?;
    let key = visit.id.to_string();
    if tx.get(&visits, key.as_str())?.is_some() {
        return Err(DocError::Invalid("a visit with this id already exists"));
    }
    let obj = tx.put_object(&visits, key.as_str(), ObjType::Map)?;
    tx.put(&obj, "at", ScalarValue::Timestamp(visit.at))?;
    put_str(tx, &obj, "area", visit.area.as_str())?;
    put_str(tx, &obj, "checklistId", &visit.checklist_id)?;
    let ticks = tx.put_object(&obj, "ticks", ObjType::Map)?;
    for (item, &checked) in &visit.ticks {
        tx.put(&ticks, item.as_str(), ScalarValue::Boolean(checked))?;
    }
    let items = tx.put_object(&obj, "items", ObjType::Map)?;
    for (h, &n) in &visit.items {
        if n > 0 {
            increment(tx, *h, i64::from(n))?;
        }
    }
    // Every kind gets its counter now, by this one device (see `create_field_doc`).
    for h in Handout::ALL {
        let n = visit.items.get(&h).copied().unwrap_or(0);
        tx.put(&items, h.code(), ScalarValue::counter(i64::from(n)))?;
    }
    tx.put(&obj, "alert", ScalarValue::Boolean(visit.alert))?;
    Ok(())
}

pub(super) fn visit_obj<T: Transactable>(tx: &T, visit: Uuid) -> Result<ObjId, DocError> {
    let visits = values::req_map(tx, &ROOT, "visits")?;
    match tx.get(&visits, visit.to_string().as_str())? {
        Some((Value::Object(ObjType::Map), obj)) => Ok(obj),
        Some(_) => Err(DocError::WrongType {
            key: visit.to_string(),
            expected: "map",
        }),
        None => Err(DocError::Invalid("no such visit")),
    }
}

/// Ticks (or unticks) one checklist item of a visit. Setting the value it already has writes
/// nothing.
pub fn tick<T: Transactable>(
    tx: &mut T,
    visit: Uuid,
    item: &str,
    checked: bool,
) -> Result<(), DocError> {
    check_header(tx, KIND_FIELD)?;
    if !valid_item_id(item) {
        return Err(DocError::Invalid(
            "checklist item ids are short lowercase codes",
        ));
    }
    let obj = visit_obj(tx, visit)?;
    let ticks = values::req_map(tx, &obj, "ticks")?;
    if opt(tx, &ticks, item, values::as_bool)? != Some(checked) {
        tx.put(&ticks, item, ScalarValue::Boolean(checked))?;
    }
    Ok(())
}

pub fn set_visit_alert<T: Transactable>(
    tx: &mut T,
    visit: Uuid,
    alert: bool,
) -> Result<(), DocError> {
    check_header(tx, KIND_FIELD)?;
    let obj = visit_obj(tx, visit)?;
    tx.put(&obj, "alert", ScalarValue::Boolean(alert))?;
    Ok(())
}

/// Items handed out outside a visit (water in the street); `n` may be negative to correct.
pub fn hand_out<T: Transactable>(tx: &mut T, h: Handout, n: i64) -> Result<(), DocError> {
    check_header(tx, KIND_FIELD)?;
    increment(tx, h, n)
}

pub fn read_field<D: ReadDoc>(doc: &D) -> Result<Field, DocError> {
    check_header(doc, KIND_FIELD)?;
    let mut visits = BTreeMap::new();
    let map = values::req_map(doc, &ROOT, "visits")?;
    for key in doc.keys(&map) {
        let id = Uuid::parse_str(&key).map_err(|_| DocError::BadKey(key.clone()))?;
        let obj = values::req_map(doc, &map, &key)?;
        let area = req(doc, &obj, "area", values::as_str)?;
        let mut ticks = BTreeMap::new();
        let ticks_map = values::req_map(doc, &obj, "ticks")?;
        for item in doc.keys(&ticks_map) {
            let checked = req(doc, &ticks_map, &item, values::as_bool)?;
            ticks.insert(item, checked);
        }
        let mut items = BTreeMap::new();
        let items_map = values::req_map(doc, &obj, "items")?;
        for code in doc.keys(&items_map) {
            let h = Handout::from_code(&code).ok_or_else(|| DocError::BadKey(code.clone()))?;
            let n = req(doc, &items_map, &code, super::handouts::as_count)?;
            if n > 0 {
                items.insert(h, n);
            }
        }
        visits.insert(
            id,
            Visit {
                id,
                at: req(doc, &obj, "at", values::as_timestamp)?,
                area: Area::parse(&area).map_err(|_| DocError::UnknownCode("area".to_owned()))?,
                checklist_id: req(doc, &obj, "checklistId", values::as_str)?,
                ticks,
                items,
                alert: opt(doc, &obj, "alert", values::as_bool)?.unwrap_or(false),
            },
        );
    }
    let mut handed_out = BTreeMap::new();
    let counters = values::req_map(doc, &ROOT, "handedOut")?;
    for code in doc.keys(&counters) {
        // Counters of handouts a newer build added are skipped, not an error.
        if let Some(h) = Handout::from_code(&code) {
            handed_out.insert(h, req(doc, &counters, &code, values::as_counter)?);
        }
    }
    Ok(Field {
        group_id: req(doc, &ROOT, "groupId", values::as_uuid)?,
        name: opt(doc, &ROOT, "name", values::as_str)?.unwrap_or_default(),
        visits,
        handed_out,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::climate::{KitImport, parse_kit};
    use crate::doc::new_doc;
    use automerge::ActorId;

    const T0: Millis = 1_782_900_000_000;

    fn kit() -> Kit {
        let KitImport { kit, .. } = parse_kit(include_str!("../../kits/canicule.json")).unwrap();
        kit
    }

    fn place(id: &str, name: &str) -> Place {
        Place {
            id: id.to_owned(),
            kind: PlaceKind::Fountain,
            name: name.to_owned(),
            lat: 48.86,
            lon: 2.36,
            address: None,
            arrondissement: None,
            hours: None,
            available: Some(true),
        }
    }

    #[test]
    fn kit_document_round_trips_kit_level_and_places() {
        let mut doc = new_doc(ActorId::from([1u8; 16]));
        create_kit_doc(&mut doc, T0).unwrap();
        doc.commit();
        let empty = read_kit_doc(&doc).unwrap();
        assert_eq!(empty.kit, None);
        assert_eq!(empty.alert.level, AlertLevel::Green);
        assert!(empty.current_actions().is_empty());

        publish_kit(&mut doc, &kit(), T0 + 1).unwrap();
        set_alert_level(&mut doc, AlertLevel::Orange, T0 + 2).unwrap();
        assert_eq!(
            upsert_places(&mut doc, &[place("1", "A"), place("2", "B")]).unwrap(),
            2
        );
        doc.commit();
        let read = read_kit_doc(&doc).unwrap();
        assert_eq!(read.kit, Some(kit()));
        assert_eq!(read.published_at, Some(T0 + 1));
        assert_eq!(
            read.alert,
            AlertState {
                level: AlertLevel::Orange,
                set_at: T0 + 2
            }
        );
        assert_eq!(read.current_actions(), kit().actions(AlertLevel::Orange));
        assert_eq!(read.places.len(), 2);

        // Re-import: one changed, one unchanged, one gone.
        assert_eq!(
            upsert_places(&mut doc, &[place("1", "A"), place("3", "C")]).unwrap(),
            1
        );
        let keep: BTreeSet<String> = ["1".to_owned(), "3".to_owned()].into();
        assert_eq!(
            remove_places_except(&mut doc, PlaceKind::Fountain, &keep).unwrap(),
            1
        );
        assert_eq!(
            remove_places_except(&mut doc, PlaceKind::CoolRoom, &keep).unwrap(),
            0
        );
        doc.commit();
        let ids: Vec<String> = read_kit_doc(&doc)
            .unwrap()
            .places
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, ["1", "3"]);
    }

    #[test]
    fn field_document_logs_visits_and_counts_items() {
        let mut doc = new_doc(ActorId::from([2u8; 16]));
        let group = Uuid::from_u128(7);
        create_field_doc(&mut doc, group, "Groupe Belleville").unwrap();
        let visit = Visit {
            id: Uuid::from_u128(1),
            at: T0,
            area: Area::parse("75020").unwrap(),
            checklist_id: "visite".to_owned(),
            ticks: [("eau".to_owned(), true)].into(),
            items: [(Handout::Water, 2)].into(),
            alert: false,
        };
        record_visit(&mut doc, &visit).unwrap();
        tick(&mut doc, visit.id, "volets", true).unwrap();
        tick(&mut doc, visit.id, "eau", false).unwrap();
        set_visit_alert(&mut doc, visit.id, true).unwrap();
        hand_out(&mut doc, Handout::Water, 3).unwrap();
        doc.commit();
        let field = read_field(&doc).unwrap();
        assert_eq!(field.group_id, group);
        let read = &field.visits[&visit.id];
        assert_eq!(
            read.ticks,
            [("eau".to_owned(), false), ("volets".to_owned(), true)].into()
        );
        assert!(read.alert);
        assert_eq!(read.items, visit.items);
        assert_eq!(field.handed_out[&Handout::Water], 5);
        assert_eq!(field.handed_out[&Handout::Fan], 0);
        assert!(matches!(
            record_visit(&mut doc, &visit),
            Err(DocError::Invalid(_))
        ));
        assert!(matches!(
            tick(&mut doc, Uuid::from_u128(99), "eau", true),
            Err(DocError::Invalid("no such visit"))
        ));
        assert!(matches!(
            tick(&mut doc, visit.id, "Nom de la personne", true),
            Err(DocError::Invalid(_))
        ));
    }

    #[test]
    fn a_kit_document_is_not_read_as_a_field_document() {
        let mut doc = new_doc(ActorId::from([3u8; 16]));
        create_kit_doc(&mut doc, T0).unwrap();
        assert!(matches!(
            read_field(&doc),
            Err(DocError::WrongKind { expected: "field" })
        ));
        assert!(matches!(
            create_field_doc(&mut doc, Uuid::nil(), "x"),
            Err(DocError::AlreadyInitialised)
        ));
    }
}
