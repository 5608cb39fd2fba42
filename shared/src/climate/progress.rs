//! What coordinators follow during a heat wave: visits, items handed out and alerts raised per
//! arrondissement, from the groups' `field` documents. Pure: the caller reads the documents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::doc::Field;
use super::{Area, Handout};
use crate::model::Millis;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaProgress {
    pub visits: u64,
    /// Visits with an alert raised.
    pub alerts: u64,
    /// Checklist items ticked over all visits.
    pub ticked_items: u64,
    /// Items handed out during visits.
    pub items: BTreeMap<Handout, u64>,
    pub last_visit_at: Option<Millis>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressTotals {
    pub groups: u64,
    pub visits: u64,
    pub alerts: u64,
    /// The groups' counters: visits' items plus handouts outside visits.
    pub handed_out: BTreeMap<Handout, i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub areas: BTreeMap<Area, AreaProgress>,
    pub totals: ProgressTotals,
}

/// Aggregates the groups' field documents.
pub fn progress<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Progress {
    let mut out = Progress::default();
    for field in fields {
        out.totals.groups += 1;
        for (h, n) in &field.handed_out {
            *out.totals.handed_out.entry(*h).or_default() += n;
        }
        for visit in field.visits.values() {
            out.totals.visits += 1;
            let area = out.areas.entry(visit.area.clone()).or_default();
            area.visits += 1;
            if visit.alert {
                area.alerts += 1;
                out.totals.alerts += 1;
            }
            area.ticked_items += visit.ticks.values().filter(|&&t| t).count() as u64;
            for (h, n) in &visit.items {
                *area.items.entry(*h).or_default() += u64::from(*n);
            }
            area.last_visit_at = area.last_visit_at.max(Some(visit.at));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::climate::Visit;
    use uuid::Uuid;

    fn visit(n: u128, area: &str, at: Millis, alert: bool, water: u32, ticks: usize) -> Visit {
        Visit {
            id: Uuid::from_u128(n),
            at,
            area: Area::parse(area).unwrap(),
            checklist_id: "visite".to_owned(),
            ticks: (0..ticks)
                .map(|i| (format!("i{i}"), true))
                .chain([("x".to_owned(), false)])
                .collect(),
            items: if water > 0 {
                [(Handout::Water, water)].into()
            } else {
                BTreeMap::new()
            },
            alert,
        }
    }

    fn field(group: u128, visits: Vec<Visit>, water: i64) -> Field {
        Field {
            group_id: Uuid::from_u128(group),
            name: String::new(),
            visits: visits.into_iter().map(|v| (v.id, v)).collect(),
            handed_out: [(Handout::Water, water), (Handout::Fan, 1)].into(),
        }
    }

    #[test]
    fn progress_adds_up_per_area_across_groups() {
        let a = field(
            1,
            vec![
                visit(1, "75011", 10, true, 2, 3),
                visit(2, "75020", 20, false, 0, 1),
            ],
            5,
        );
        let b = field(2, vec![visit(3, "11", 30, false, 1, 2)], 1);
        let p = progress([&a, &b]);
        assert_eq!(p.totals.groups, 2);
        assert_eq!(p.totals.visits, 3);
        assert_eq!(p.totals.alerts, 1);
        assert_eq!(p.totals.handed_out[&Handout::Water], 6);
        assert_eq!(p.totals.handed_out[&Handout::Fan], 2);
        let eleven = &p.areas[&Area::parse("75011").unwrap()];
        assert_eq!(eleven.visits, 2);
        assert_eq!(eleven.alerts, 1);
        assert_eq!(eleven.ticked_items, 5);
        assert_eq!(eleven.items[&Handout::Water], 3);
        assert_eq!(eleven.last_visit_at, Some(30));
        assert_eq!(p.areas[&Area::parse("75020").unwrap()].visits, 1);
        assert_eq!(progress([]), Progress::default());
    }
}
