//! The supplier listing's page keys (`views::supplier_keys`): after an import, a re-import
//! and a newer version of a record, `/ocds/releases?supplier=` read from the keys equals the
//! link-table query (order, pages, keyset pages, totals); stale keys are never read.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod procurement_common;

use carnet_server::procurement::import::import_reader;
use carnet_server::procurement::publish::{self, ContractFilter, Page};
use carnet_server::procurement::views::{schema, supplier_keys};
use procurement_common::*;
use rusqlite::Connection;
use serde_json::{Value, json};

/// The largest supplier of the AIFE file (55 records, 14 distinct contracts, one scheme).
const SUPPLIER: &str = "79858993300018";
/// An identifier published under two schemes (SIRET and another): two supplier rows.
const TWO_SCHEMES: &str = "33074169500044";

fn supplier(id: &str) -> ContractFilter {
    ContractFilter {
        supplier: Some(id.to_string()),
        ..ContractFilter::default()
    }
}

fn rowids(conn: &Connection, filter: &ContractFilter, page: Page) -> Vec<i64> {
    publish::contracts(conn, filter, page)
        .unwrap()
        .iter()
        .map(|s| s.rowid)
        .collect()
}

/// Every page (by number, then by keyset cursor) and the total, for one page size.
#[derive(Debug, PartialEq, Eq)]
struct Listing {
    pages: Vec<Vec<i64>>,
    keyset: Vec<Vec<i64>>,
    total: i64,
}

fn listing(conn: &Connection, filter: &ContractFilter, per_page: u32) -> Listing {
    let total = publish::count(conn, filter).unwrap();
    let last = u32::try_from(total).unwrap().div_ceil(per_page);
    let pages = (1..=last + 1)
        .map(|page| {
            rowids(
                conn,
                filter,
                Page {
                    page,
                    per_page,
                    after: None,
                },
            )
        })
        .collect();
    let mut keyset = Vec::new();
    let mut after = None;
    loop {
        let page = rowids(
            conn,
            filter,
            Page {
                page: 1,
                per_page,
                after,
            },
        );
        let Some(&next) = page.last() else { break };
        after = Some(next);
        keyset.push(page);
    }
    Listing {
        pages,
        keyset,
        total,
    }
}

/// The same listing through the link-table query: in a transaction that marks the derived
/// data stale (so the keys are not read), rolled back afterwards.
fn listing_from_links(conn: &Connection, filter: &ContractFilter, per_page: u32) -> Listing {
    conn.execute_batch("BEGIN").unwrap();
    conn.execute(
        "DELETE FROM procurement_view_state WHERE key = 'flags_version'",
        [],
    )
    .unwrap();
    let id = filter.supplier.as_deref().unwrap();
    assert_eq!(supplier_keys::supplier_rowid(conn, id).unwrap(), None);
    let reference = listing(conn, filter, per_page);
    conn.execute_batch("ROLLBACK").unwrap();
    reference
}

/// Asserts the keyed listing equals the link query for the largest supplier (read from
/// the keys) and the two-scheme one (falls back); returns the largest supplier's rows.
fn assert_keyed_listing_matches(conn: &Connection, when: &str) -> Vec<i64> {
    assert!(
        supplier_keys::supplier_rowid(conn, SUPPLIER)
            .unwrap()
            .is_some(),
        "{when}: keys used"
    );
    assert_eq!(
        supplier_keys::supplier_rowid(conn, TWO_SCHEMES).unwrap(),
        None
    );
    for per_page in [7, 20, 100] {
        for id in [SUPPLIER, TWO_SCHEMES] {
            let f = supplier(id);
            let keyed = listing(conn, &f, per_page);
            assert_eq!(
                keyed,
                listing_from_links(conn, &f, per_page),
                "{when}: {id} per page {per_page}"
            );
            assert!(keyed.total > 0, "{when}: {id}");
        }
    }
    let all = listing(conn, &supplier(SUPPLIER), 1000);
    assert_eq!(all.pages[0].len(), usize::try_from(all.total).unwrap());
    all.pages[0].clone()
}

fn import_json(conn: &mut Connection, json: &Value, label: &str) {
    let data = data_dir();
    import_reader(
        conn,
        json.to_string().as_bytes(),
        &cpv(&data),
        label,
        "2026-01-02T00:00:00Z",
    )
    .unwrap();
}

/// Undated contracts of the largest supplier: NULL page keys, listed first.
fn undated(n: usize) -> Value {
    let marches: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("SANS-DATE-{i}"), "acheteur": {"id": "21750001600019"},
                   "montant": 1000 + i,
                   "titulaires": [{"typeIdentifiant": "SIRET", "id": SUPPLIER}],
                   "modifications": []})
        })
        .collect();
    json!({ "marches": marches })
}

#[test]
fn procurement_supplier_listing_from_page_keys_equals_the_link_query_after_import_reimport_and_newer_version()
 {
    let data = data_dir();
    let cpv = cpv(&data);
    let (_dir, mut conn) = fresh_db();
    schema::migrate(&mut conn).unwrap();
    let source = data.join("decp/sources/aife_2019-04-04.json");
    import_file(&mut conn, &source, &cpv);
    import_json(&mut conn, &undated(4), "undated");
    schema::refresh(&conn).unwrap();
    let first = assert_keyed_listing_matches(&conn, "after import");
    // Pages of 7 span the undated head and the dated rows.
    assert!(first.len() > 2 * 7, "{}", first.len());

    // Re-import of the same file: same listing.
    import_file(&mut conn, &source, &cpv);
    schema::refresh(&conn).unwrap();
    assert_eq!(
        assert_keyed_listing_matches(&conn, "after re-import"),
        first
    );

    // A newer version of one of the supplier's records, notified earlier: it moves to the
    // front of the dated contracts (after the undated ones).
    let original: Value = serde_json::from_slice(&std::fs::read(&source).unwrap()).unwrap();
    let mut record = original["marches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["titulaires"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["id"] == SUPPLIER))
        })
        .nth(30)
        .unwrap()
        .clone();
    record["dateNotification"] = json!("2010-01-01");
    record["modifications"] = json!([{"objetModification": "avenant", "montant": 10}]);
    import_json(&mut conn, &json!({ "marches": [record] }), "newer");

    // Not refreshed yet: the keys are stale and not read; the listing already shows the
    // new order (the stale keys would not).
    assert_eq!(
        supplier_keys::supplier_rowid(&conn, SUPPLIER).unwrap(),
        None
    );
    let stale = listing(&conn, &supplier(SUPPLIER), 1000).pages[0].clone();
    assert_ne!(stale, first, "the newer version moved");
    let moved = stale[4];
    assert_ne!(first[4], moved);

    schema::refresh(&conn).unwrap();
    let newer = assert_keyed_listing_matches(&conn, "after a newer version");
    assert_eq!(newer, stale);
    assert_eq!(newer.len(), first.len());
}

#[test]
fn procurement_supplier_page_query_is_a_range_of_the_page_key_index() {
    let (_dir, mut conn) = fresh_db();
    schema::migrate(&mut conn).unwrap();
    let plan: Vec<String> = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            supplier_keys::page_sql("")
        ))
        .unwrap()
        .query_map([1, 100, 0], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|s| s.contains("USING COVERING INDEX procurement_supplier_keys_page")),
        "{plan:?}"
    );
}

#[test]
fn procurement_supplier_keys_migration_fills_them_and_keeps_a_current_database_current() {
    let data = data_dir();
    let cpv = cpv(&data);
    let (_dir, mut conn) = fresh_db();
    schema::migrate(&mut conn).unwrap();
    import_file(
        &mut conn,
        &data.join("decp/sources/aife_2019-04-04.json"),
        &cpv,
    );
    schema::refresh(&conn).unwrap();
    // Back to the views' schema version 2: current derived data, no supplier keys.
    conn.execute_batch(
        "DROP TABLE procurement_supplier_keys;
         UPDATE schema_migrations SET version = 2 WHERE namespace = 'carnet-server.procurement-views';",
    )
    .unwrap();
    let version = schema::current(&conn).unwrap();
    assert!(version.is_some());
    schema::migrate(&mut conn).unwrap();
    // No 10-minute refresh at 1M for this table: the migration filled it.
    assert_eq!(schema::current(&conn).unwrap(), version);
    assert_keyed_listing_matches(&conn, "after the migration");
}
