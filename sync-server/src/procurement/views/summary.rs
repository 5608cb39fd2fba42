//! Summary tables of the unfiltered views, rebuilt by [`super::schema::refresh`] right after
//! an import, in the transaction that records the data version they reflect. At 1M
//! contracts computing an unfiltered view took 5–19 s (docs/benchmarks-procurement.md); these
//! tables make the first request on any server process as fast as the next one:
//!
//! - `procurement_view_headline`: the headline figures of the whole table (one row);
//! - `procurement_view_groups`: every group of each dimension (buyer, supplier, CPV
//!   division, procedure) ranked in the views' order, so any page of an unfiltered list is a
//!   range of ranks;
//! - `procurement_page_marks`: every `MARK_STRIDE`-th contract of the two listing orders
//!   (OCDS packages, contract list), so page N starts from a keyset cursor instead of
//!   walking N × per_page rows;
//! - `procurement_view_pages`: page 1 of every unfiltered view as served (HTML, CSV, JSON).
//!
//! Readers use a summary only when [`super::schema::current`] says the derived data matches
//! the contracts ([`Derived::Matching`]); otherwise they compute, so a stale summary is never
//! served silently. The one exception: while an import run is alive the views read the last
//! refresh's ([`Derived::LastRefresh`]) and every page says so (`super::live`).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::filter::Filter;
use super::redflags::FLAGS;
use super::schema::Derived;
use super::stats::{self, Dimension, Group, Headline};
use super::{BASE, View};

/// One mark every this many contracts of a listing order.
pub const MARK_STRIDE: i64 = 100;

/// The two listing orders that have page marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// `/ocds/releases|records`: `date_notification, buyer_id, contract_id` (NULL dates first).
    Ocds,
    /// `/marches/contrats`: newest first (`date_notification DESC, rowid DESC`, NULL dates last).
    Contracts,
}

impl Listing {
    fn key(self) -> &'static str {
        match self {
            Listing::Ocds => "ocds",
            Listing::Contracts => "contrats",
        }
    }
}

/// SQL order of the views' contract list (also used by `stats::contracts`).
pub const CONTRACTS_ORDER_SQL: &str =
    "c.date_notification IS NULL, c.date_notification DESC, c.rowid DESC";

pub(super) const MIGRATION: &str = r#"
CREATE TABLE procurement_view_headline (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    contracts INTEGER NOT NULL,
    amount REAL NOT NULL,
    with_amount INTEGER NOT NULL,
    buyers INTEGER NOT NULL,
    suppliers INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    first_date TEXT,
    last_date TEXT,
    without_date INTEGER NOT NULL,
    median_offers REAL,
    with_offers INTEGER NOT NULL
);
CREATE TABLE procurement_view_groups (
    dimension TEXT NOT NULL,
    rank INTEGER NOT NULL,
    key TEXT,
    label TEXT,
    contracts INTEGER NOT NULL,
    amount REAL NOT NULL,
    PRIMARY KEY (dimension, rank)
) WITHOUT ROWID;
CREATE TABLE procurement_page_marks (
    listing TEXT NOT NULL,
    mark INTEGER NOT NULL,
    after_rowid INTEGER NOT NULL,
    PRIMARY KEY (listing, mark)
) WITHOUT ROWID;
CREATE TABLE procurement_view_pages (
    view TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    html TEXT NOT NULL,
    csv TEXT NOT NULL,
    json TEXT NOT NULL
);
-- A database migrated from before these tables has current flags but empty summaries:
-- mark the derived data stale so the next refresh builds them.
DELETE FROM procurement_view_state WHERE key = 'flags_version';
"#;

fn dimension_key(dim: Dimension) -> &'static str {
    match dim {
        Dimension::Buyer => "buyer",
        Dimension::Supplier => "supplier",
        Dimension::CpvDivision => "cpv",
        Dimension::Procedure => "procedure",
    }
}

const DIMENSIONS: [Dimension; 4] = [
    Dimension::Buyer,
    Dimension::Supplier,
    Dimension::CpvDivision,
    Dimension::Procedure,
];

fn fresh(conn: &Connection, derived: Derived) -> rusqlite::Result<bool> {
    super::schema::usable(conn, derived)
}

/// Rebuilds the aggregate tables (headline, groups, marks) from the contracts. Runs inside
/// `refresh`'s transaction, before the data version is recorded.
pub(super) fn rebuild_aggregates(conn: &Connection) -> rusqlite::Result<()> {
    let all = Filter::default();
    let h = stats::headline_computed(conn, &all)?;
    conn.execute("DELETE FROM procurement_view_headline", [])?;
    conn.execute(
        "INSERT INTO procurement_view_headline(id, contracts, amount, with_amount, buyers,
            suppliers, modified, first_date, last_date, without_date, median_offers, with_offers)
         VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            h.contracts,
            h.amount,
            h.with_amount,
            h.buyers,
            h.suppliers,
            h.modified,
            h.first_date,
            h.last_date,
            h.without_date,
            h.median_offers,
            h.with_offers
        ],
    )?;
    conn.execute("DELETE FROM procurement_view_groups", [])?;
    {
        let mut insert = conn.prepare(
            "INSERT INTO procurement_view_groups(dimension, rank, key, label, contracts, amount)
             VALUES (?, ?, ?, ?, ?, ?)",
        )?;
        for dim in DIMENSIONS {
            let (groups, _) = stats::groups_computed(conn, &all, dim, -1, 0)?;
            for (rank, g) in (1_i64..).zip(&groups) {
                insert.execute(params![
                    dimension_key(dim),
                    rank,
                    g.key,
                    g.label,
                    g.contracts,
                    g.amount
                ])?;
            }
        }
    }
    conn.execute("DELETE FROM procurement_page_marks", [])?;
    for (listing, order) in [
        (
            Listing::Ocds,
            "c.date_notification, c.buyer_id, c.contract_id",
        ),
        (Listing::Contracts, CONTRACTS_ORDER_SQL),
    ] {
        // Mark k = the contract just before position k × STRIDE (0-based): the cursor
        // from which that position is the first row.
        conn.execute(
            &format!(
                "INSERT INTO procurement_page_marks(listing, mark, after_rowid)
                 SELECT ?1, pos / ?2, rowid FROM (
                     SELECT c.rowid, ROW_NUMBER() OVER (ORDER BY {order}) AS pos
                     FROM procurement_contracts c)
                 WHERE pos % ?2 = 0"
            ),
            params![listing.key(), MARK_STRIDE],
        )?;
    }
    Ok(())
}

/// The unfiltered views stored whole: (view, by_year, path the page is served at).
fn stored_views() -> Vec<(View, bool)> {
    let mut views = vec![
        (View::Overview, true),
        (View::OverTime, true),
        (View::OverTime, false),
        (View::Buyers, true),
        (View::Suppliers, true),
        (View::Cpv, true),
        (View::Procedures, true),
        (View::Amounts, true),
        (View::Amendments, true),
        (View::Competition, true),
        (View::Concentration, true),
        (View::Quality, true),
        (View::Contracts, true),
        (View::Flags, true),
    ];
    views.extend(FLAGS.iter().map(|f| (View::Flag(f.slug.to_string()), true)));
    views
}

/// Key of a stored page, or None when the view is not stored.
pub fn page_key(view: &View, by_year: bool) -> Option<String> {
    stored_views()
        .iter()
        .any(|(v, y)| v == view && *y == by_year)
        .then(|| format!("{view:?} {by_year}"))
}

/// The path a view is served at (what `respond` passes to the template).
pub fn view_path(view: &View) -> String {
    let rest = match view {
        View::Overview => return BASE.to_string(),
        View::OverTime => "periodes".to_string(),
        View::Buyers => "acheteurs".to_string(),
        View::Suppliers => "titulaires".to_string(),
        View::Cpv => "cpv".to_string(),
        View::Procedures => "procedures".to_string(),
        View::Amounts => "montants".to_string(),
        View::Amendments => "modifications".to_string(),
        View::Competition => "concurrence".to_string(),
        View::Concentration => "concentration".to_string(),
        View::Quality => "qualite".to_string(),
        View::Contracts => "contrats".to_string(),
        View::Flags => "alertes".to_string(),
        View::Flag(slug) => format!("alertes/{slug}"),
        View::Buyer(id) => format!("acheteurs/{id}"),
        View::Supplier(id) => format!("titulaires/{id}"),
        View::Contract(rowid) => format!("contrats/{rowid}"),
    };
    format!("{BASE}/{rest}")
}

/// The three renderings of an unfiltered page, exactly as `respond` would serve them.
pub struct Rendered {
    /// CSV file name without `.csv`.
    pub slug: String,
    pub html: String,
    pub csv: String,
    pub json: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
    #[error("gabarit : {0}")]
    Template(#[from] minijinja::Error),
    #[error("vue : {0}")]
    View(String),
}

/// Computes and renders one unfiltered view (what a request would get without summaries).
pub fn render_unfiltered(
    conn: &Connection,
    view: &View,
    by_year: bool,
) -> Result<Rendered, SummaryError> {
    let f = Filter {
        page: 1,
        ..Filter::default()
    };
    let page = super::compute_list(conn, view, &f, by_year)
        .map_err(|e| SummaryError::View(e.to_string()))?;
    Ok(Rendered {
        slug: page.slug.clone(),
        html: super::render::html(&page, &f, &view_path(view), by_year)?,
        csv: super::page::to_csv(&page.main_table()),
        json: page.to_json(&f.pairs()).to_string(),
    })
}

/// Stores page 1 of every unfiltered view. Runs inside `refresh`'s transaction after the
/// data version is recorded (so the pages are built from the aggregates above).
pub(super) fn rebuild_pages(conn: &Connection) -> Result<(), SummaryError> {
    conn.execute("DELETE FROM procurement_view_pages", [])?;
    let mut insert = conn.prepare(
        "INSERT INTO procurement_view_pages(view, slug, html, csv, json) VALUES (?, ?, ?, ?, ?)",
    )?;
    for (view, by_year) in stored_views() {
        let Some(key) = page_key(&view, by_year) else {
            continue;
        };
        let r = render_unfiltered(conn, &view, by_year)?;
        insert.execute(params![key, r.slug, r.html, r.csv, r.json])?;
    }
    Ok(())
}

/// Which rendering of a stored page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    Html,
    Csv,
    Json,
}

/// A stored page and its slug, when the summaries match the data.
pub fn stored_page(
    conn: &Connection,
    key: &str,
    rendering: Rendering,
    derived: Derived,
) -> rusqlite::Result<Option<(String, String)>> {
    if !fresh(conn, derived)? {
        return Ok(None);
    }
    let column = match rendering {
        Rendering::Html => "html",
        Rendering::Csv => "csv",
        Rendering::Json => "json",
    };
    conn.query_row(
        &format!("SELECT {column}, slug FROM procurement_view_pages WHERE view = ?"),
        [key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Headline figures of the whole table, when the summaries match the data.
pub fn headline(conn: &Connection, derived: Derived) -> rusqlite::Result<Option<Headline>> {
    if !fresh(conn, derived)? {
        return Ok(None);
    }
    conn.query_row(
        "SELECT contracts, amount, with_amount, buyers, suppliers, modified, first_date,
                last_date, without_date, median_offers, with_offers
         FROM procurement_view_headline WHERE id = 1",
        [],
        |r| {
            Ok(Headline {
                contracts: r.get(0)?,
                amount: r.get(1)?,
                with_amount: r.get(2)?,
                buyers: r.get(3)?,
                suppliers: r.get(4)?,
                modified: r.get(5)?,
                first_date: r.get(6)?,
                last_date: r.get(7)?,
                without_date: r.get(8)?,
                median_offers: r.get(9)?,
                with_offers: r.get(10)?,
            })
        },
    )
    .optional()
}

/// One page of an unfiltered dimension with the number of groups, when the summaries
/// match the data.
pub fn groups(
    conn: &Connection,
    derived: Derived,
    dim: Dimension,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Option<(Vec<Group>, i64)>> {
    if !fresh(conn, derived)? {
        return Ok(None);
    }
    let key = dimension_key(dim);
    let total: i64 = conn.query_row(
        "SELECT COALESCE(MAX(rank), 0) FROM procurement_view_groups WHERE dimension = ?",
        [key],
        |r| r.get(0),
    )?;
    let last = if limit < 0 {
        i64::MAX
    } else {
        offset.saturating_add(limit)
    };
    let mut stmt = conn.prepare(
        "SELECT key, label, contracts, amount FROM procurement_view_groups
         WHERE dimension = ? AND rank > ? AND rank <= ? ORDER BY rank",
    )?;
    let rows = stmt.query_map(params![key, offset, last], |r| {
        Ok(Group {
            key: r.get(0)?,
            label: r.get(1)?,
            contracts: r.get(2)?,
            amount: r.get(3)?,
        })
    })?;
    Ok(Some((rows.collect::<rusqlite::Result<Vec<_>>>()?, total)))
}

/// Where an unfiltered listing page starting at `offset` begins (see [`seek`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Start after contract `after` (None: at the beginning) and skip `rest` (< `MARK_STRIDE`)
    /// rows.
    At { after: Option<i64>, rest: i64 },
    /// The offset is at or past the end: the page is empty. Without this any page number a
    /// visitor types past the end walked every contract with OFFSET.
    PastEnd,
}

/// Where an unfiltered listing page starting at `offset` begins; None when the marks do not
/// match the data.
pub fn seek(
    conn: &Connection,
    derived: Derived,
    listing: Listing,
    offset: i64,
) -> rusqlite::Result<Option<Start>> {
    let mark = offset / MARK_STRIDE;
    let rest = offset % MARK_STRIDE;
    if mark == 0 {
        return Ok(Some(Start::At { after: None, rest }));
    }
    if !fresh(conn, derived)? {
        return Ok(None);
    }
    let after: Option<i64> = conn
        .query_row(
            "SELECT after_rowid FROM procurement_page_marks WHERE listing = ? AND mark = ?",
            params![listing.key(), mark],
            |r| r.get(0),
        )
        .optional()?;
    // Every mark k with k × STRIDE < the number of contracts exists: none means the offset
    // (≥ k × STRIDE) is past the end.
    Ok(Some(match after {
        Some(after) => Start::At {
            after: Some(after),
            rest,
        },
        None => Start::PastEnd,
    }))
}

/// All contracts in the list order ([`CONTRACTS_ORDER_SQL`]: dated ones newest
/// first, then undated ones by rowid descending), starting after contract `after`,
/// skipping `skip` rows. Two index walks (date index backwards, then rowid) instead of
/// one sort of the whole table.
pub fn contracts_after(
    conn: &Connection,
    after: Option<i64>,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<stats::ContractRow>> {
    let cursor: Option<(Option<String>, i64)> = match after {
        Some(rowid) => conn
            .query_row(
                "SELECT date_notification, rowid FROM procurement_contracts WHERE rowid = ?",
                [rowid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?,
        None => None,
    };
    let want = skip.saturating_add(limit.max(0));
    let columns = stats::CONTRACT_COLUMNS_SQL.replace("{AMOUNT_SQL}", super::filter::AMOUNT_SQL);
    let mut out: Vec<stats::ContractRow> = Vec::new();
    let undated_after = match &cursor {
        Some((None, rowid)) => Some(*rowid),
        _ => None,
    };
    if undated_after.is_none() {
        let (clause, args): (&str, Vec<SqlValue>) = match &cursor {
            Some((Some(date), rowid)) => (
                "AND c.date_notification <= ?1 AND (c.date_notification < ?1 OR c.rowid < ?2)",
                vec![SqlValue::Text(date.clone()), SqlValue::Integer(*rowid)],
            ),
            _ => ("", Vec::new()),
        };
        let n = args.len();
        let mut stmt = conn.prepare(&format!(
            "SELECT {columns}, NULL FROM procurement_contracts c INDEXED BY procurement_contracts_date
             WHERE c.date_notification IS NOT NULL {clause}
             ORDER BY c.date_notification DESC, c.rowid DESC LIMIT ?{}",
            n + 1
        ))?;
        let rows = stmt.query_map(
            params_from_iter(stats::args_with(args, &[want])),
            stats::contract_row,
        )?;
        for row in rows {
            out.push(row?);
        }
    }
    let missing = want - i64::try_from(out.len()).unwrap_or(i64::MAX);
    if missing > 0 {
        let mut stmt = conn.prepare(&format!(
            "SELECT {columns}, NULL FROM procurement_contracts c
             WHERE c.date_notification IS NULL AND c.rowid < ?1
             ORDER BY c.rowid DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(
            rusqlite::params![undated_after.unwrap_or(i64::MAX), missing],
            stats::contract_row,
        )?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out
        .into_iter()
        .skip(usize::try_from(skip).unwrap_or(0))
        .collect())
}
