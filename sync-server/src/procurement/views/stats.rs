//! The aggregations behind the views, all done in SQL (one query per table, no per-row
//! follow-up queries) over the filtered contracts.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};

use super::filter::{AMOUNT_SQL, Filter};
use super::schema::Derived;
use super::summary::{CONTRACTS_ORDER_SQL, Listing, Start};
use super::thresholds::THRESHOLDS;

/// Amount attributed to one supplier of a contract: co-contractors share it equally.
const SUPPLIER_SHARE_SQL: &str = "(CASE WHEN c.amount IN (222222, 999999, 999999999) OR c.amount < 0 THEN NULL ELSE c.amount END)
     / (SELECT COUNT(*) FROM procurement_contract_suppliers n WHERE n.contract_rowid = c.rowid)";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headline {
    pub contracts: i64,
    pub amount: f64,
    /// Contracts whose amount counts (placeholders and missing excluded).
    pub with_amount: i64,
    pub buyers: i64,
    pub suppliers: i64,
    pub modified: i64,
    pub first_date: Option<String>,
    pub last_date: Option<String>,
    pub without_date: i64,
    pub median_offers: Option<f64>,
    pub with_offers: i64,
}

/// One group of an aggregation (by buyer, supplier, month, division, procedure…).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: Option<String>,
    pub label: Option<String>,
    pub contracts: i64,
    pub amount: f64,
}

pub(super) fn args_with(mut args: Vec<SqlValue>, extra: &[i64]) -> Vec<SqlValue> {
    args.extend(extra.iter().map(|v| SqlValue::Integer(*v)));
    args
}

/// Headline figures within the filter; unfiltered, from the summary table when it matches
/// the data.
pub fn headline(conn: &Connection, f: &Filter) -> rusqlite::Result<Headline> {
    if f.is_empty()
        && let Some(h) = super::summary::headline(conn, f.derived)?
    {
        return Ok(h);
    }
    headline_computed(conn, f)
}

/// Headline figures computed from the contracts.
pub fn headline_computed(conn: &Connection, f: &Filter) -> rusqlite::Result<Headline> {
    let (w, args) = f.where_clause();
    let mut h = conn.query_row(
        &format!(
            "SELECT COUNT(*), COALESCE(SUM({AMOUNT_SQL}), 0), COUNT({AMOUNT_SQL}),
                    COUNT(DISTINCT c.buyer_id), COALESCE(SUM(c.modification_count > 0), 0),
                    MIN(c.date_notification), MAX(c.date_notification),
                    COALESCE(SUM(c.date_notification IS NULL), 0), COUNT(c.offers_received)
             FROM procurement_contracts c {w}"
        ),
        params_from_iter(args.clone()),
        |r| {
            Ok(Headline {
                contracts: r.get(0)?,
                amount: r.get(1)?,
                with_amount: r.get(2)?,
                buyers: r.get(3)?,
                modified: r.get(4)?,
                first_date: r.get(5)?,
                last_date: r.get(6)?,
                without_date: r.get(7)?,
                with_offers: r.get(8)?,
                ..Headline::default()
            })
        },
    )?;
    h.suppliers = conn.query_row(
        &format!(
            "SELECT COUNT(DISTINCT cs.supplier_rowid) FROM procurement_contracts c
             JOIN procurement_contract_suppliers cs ON cs.contract_rowid = c.rowid {w}"
        ),
        params_from_iter(args.clone()),
        |r| r.get(0),
    )?;
    if h.with_offers > 0 {
        let (and, args) = f.and_clause();
        h.median_offers = conn.query_row(
            &format!(
                "SELECT AVG(o) FROM (SELECT c.offers_received o FROM procurement_contracts c
                 WHERE c.offers_received IS NOT NULL {and} ORDER BY o
                 LIMIT 2 - (?1 % 2) OFFSET (?1 - 1) / 2)"
            )
            .replace("?1", &h.with_offers.to_string()),
            params_from_iter(args),
            |r| r.get(0),
        )?;
    }
    Ok(h)
}

/// Contracts and amount per notification month (`YYYY-MM`) or year (`YYYY`).
pub fn over_time(conn: &Connection, f: &Filter, by_year: bool) -> rusqlite::Result<Vec<Group>> {
    let len = if by_year { 4 } else { 7 };
    let (and, args) = f.and_clause();
    let mut stmt = conn.prepare(&format!(
        "SELECT substr(c.date_notification, 1, {len}) AS period, COUNT(*), COALESCE(SUM({AMOUNT_SQL}), 0)
         FROM procurement_contracts c WHERE c.date_notification IS NOT NULL {and}
         GROUP BY period ORDER BY period"
    ))?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok(Group {
            key: r.get(0)?,
            label: r.get(0)?,
            contracts: r.get(1)?,
            amount: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// Which dimension to group contracts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Buyer,
    Supplier,
    CpvDivision,
    Procedure,
}

/// Groups ordered by amount (then count), one page, with the total number of groups;
/// unfiltered, from the summary table when it matches the data.
pub fn groups(
    conn: &Connection,
    f: &Filter,
    dim: Dimension,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<Group>, i64)> {
    if f.is_empty()
        && let Some(found) = super::summary::groups(conn, f.derived, dim, limit, offset)?
    {
        return Ok(found);
    }
    groups_computed(conn, f, dim, limit, offset)
}

/// Groups computed from the contracts (`limit` -1: all).
pub fn groups_computed(
    conn: &Connection,
    f: &Filter,
    dim: Dimension,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<Group>, i64)> {
    let (w, args) = f.where_clause();
    let (select, from, group) = match dim {
        Dimension::Buyer => (
            format!("c.buyer_id, (SELECT name FROM procurement_buyers b WHERE b.id = c.buyer_id), COUNT(*), COALESCE(SUM({AMOUNT_SQL}), 0)"),
            "procurement_contracts c".to_string(),
            "c.buyer_id",
        ),
        Dimension::Supplier => (
            format!("s.id, MAX(s.name), COUNT(*), COALESCE(SUM({SUPPLIER_SHARE_SQL}), 0)"),
            "procurement_contracts c JOIN procurement_contract_suppliers cs ON cs.contract_rowid = c.rowid
             JOIN procurement_suppliers s ON s.rowid = cs.supplier_rowid".to_string(),
            "s.id",
        ),
        Dimension::CpvDivision => (
            format!("c.cpv_division, NULL, COUNT(*), COALESCE(SUM({AMOUNT_SQL}), 0)"),
            "procurement_contracts c".to_string(),
            "c.cpv_division",
        ),
        Dimension::Procedure => (
            format!("c.procedure, c.procedure, COUNT(*), COALESCE(SUM({AMOUNT_SQL}), 0)"),
            "procurement_contracts c".to_string(),
            "c.procedure",
        ),
    };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM (SELECT 1 FROM {from} {w} GROUP BY {group})"),
        params_from_iter(args.clone()),
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {select} FROM {from} {w} GROUP BY {group}
         ORDER BY 4 DESC, 3 DESC, 1 LIMIT ? OFFSET ?"
    ))?;
    let rows = stmt.query_map(params_from_iter(args_with(args, &[limit, offset])), |r| {
        Ok(Group {
            key: r.get(0)?,
            label: r.get(1)?,
            contracts: r.get(2)?,
            amount: r.get(3)?,
        })
    })?;
    Ok((rows.collect::<rusqlite::Result<Vec<_>>>()?, total))
}

/// Bin edges of the amount histogram: 4 bins per decade from 100 € to 10 billion €.
pub fn histogram_edges() -> Vec<(f64, f64)> {
    super::chart::log_bins(100.0, 1e10, 4)
}

/// Contract counts per amount bin, plus the count below the first bin (incl. 0).
pub fn histogram(conn: &Connection, f: &Filter) -> rusqlite::Result<(Vec<i64>, i64)> {
    let edges = histogram_edges();
    let mut case = String::from("CASE");
    for (i, (_, hi)) in edges.iter().enumerate() {
        case.push_str(&format!(" WHEN a < {hi} THEN {i}"));
    }
    case.push_str(&format!(" ELSE {} END", edges.len() - 1));
    let (and, args) = f.and_clause();
    let lowest = edges.first().map(|e| e.0).unwrap_or(0.0);
    let mut stmt = conn.prepare(&format!(
        "SELECT CASE WHEN a < {lowest} THEN -1 ELSE {case} END AS bin, COUNT(*)
         FROM (SELECT {AMOUNT_SQL} AS a FROM procurement_contracts c WHERE {AMOUNT_SQL} IS NOT NULL {and})
         GROUP BY bin"
    ))?;
    let mut counts = vec![0i64; edges.len()];
    let mut below = 0;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (bin, n) = row?;
        match usize::try_from(bin) {
            Ok(i) if i < counts.len() => counts[i] = n,
            _ => below += n,
        }
    }
    Ok((counts, below))
}

/// Contracts just under and just over each threshold (±`band`), counted only during the
/// threshold's period of force: one row per threshold of `THRESHOLDS`.
pub fn bunching(conn: &Connection, f: &Filter, band: f64) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut cols = Vec::new();
    for t in THRESHOLDS {
        let period = format!("c.date_notification BETWEEN '{}' AND '{}'", t.from, t.to);
        cols.push(format!(
            "COALESCE(SUM({period} AND {AMOUNT_SQL} >= {lo} AND {AMOUNT_SQL} < {t0}), 0),
             COALESCE(SUM({period} AND {AMOUNT_SQL} >= {t0} AND {AMOUNT_SQL} < {hi}), 0)",
            lo = t.amount * (1.0 - band),
            t0 = t.amount,
            hi = t.amount * (1.0 + band)
        ));
    }
    let (w, args) = f.where_clause();
    conn.query_row(
        &format!(
            "SELECT {} FROM procurement_contracts c {w}",
            cols.join(", ")
        ),
        params_from_iter(args),
        |r| {
            (0..THRESHOLDS.len())
                .map(|i| Ok((r.get(2 * i)?, r.get(2 * i + 1)?)))
                .collect()
        },
    )
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Amendments {
    pub modified: i64,
    pub modifications: i64,
    /// Sum of (final − initial) over modified contracts with both amounts.
    pub increase: f64,
    pub initial_of_modified: f64,
    /// Modified contracts per increase band: decrease, none, ≤10 %, 10–15 %, 15–50 %, > 50 %, unknown.
    pub bands: [i64; 7],
}

pub const AMENDMENT_BANDS: [&str; 7] = [
    "Baisse",
    "Montant inchangé",
    "Hausse jusqu'à 10 %",
    "Hausse de 10 à 15 %",
    "Hausse de 15 à 50 %",
    "Hausse de plus de 50 %",
    "Montant initial inconnu",
];

pub fn amendments(conn: &Connection, f: &Filter) -> rusqlite::Result<Amendments> {
    let (and, args) = f.and_clause();
    conn.query_row(
        &format!(
            "SELECT COUNT(*), COALESCE(SUM(c.modification_count), 0),
               COALESCE(SUM(CASE WHEN {AMOUNT_SQL} > 0 THEN c.amount_final - c.amount END), 0),
               COALESCE(SUM(CASE WHEN {AMOUNT_SQL} > 0 THEN c.amount END), 0),
               COALESCE(SUM({AMOUNT_SQL} > 0 AND c.amount_final < c.amount), 0),
               COALESCE(SUM({AMOUNT_SQL} > 0 AND c.amount_final = c.amount), 0),
               COALESCE(SUM({AMOUNT_SQL} > 0 AND c.amount_final > c.amount AND c.amount_final <= c.amount * 1.10), 0),
               COALESCE(SUM({AMOUNT_SQL} > 0 AND c.amount_final > c.amount * 1.10 AND c.amount_final <= c.amount * 1.15), 0),
               COALESCE(SUM({AMOUNT_SQL} > 0 AND c.amount_final > c.amount * 1.15 AND c.amount_final <= c.amount * 1.5), 0),
               COALESCE(SUM({AMOUNT_SQL} > 0 AND c.amount_final > c.amount * 1.5), 0),
               COALESCE(SUM({AMOUNT_SQL} IS NULL OR {AMOUNT_SQL} = 0 OR c.amount_final IS NULL), 0)
             FROM procurement_contracts c WHERE c.modification_count > 0 {and}"
        ),
        params_from_iter(args),
        |r| {
            let mut bands = [0i64; 7];
            for (i, b) in bands.iter_mut().enumerate() {
                *b = r.get(4 + i)?;
            }
            Ok(Amendments {
                modified: r.get(0)?,
                modifications: r.get(1)?,
                increase: r.get(2)?,
                initial_of_modified: r.get(3)?,
                bands,
            })
        },
    )
}

/// Contracts per number of offers received (None = not published).
pub fn offers(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<(Option<i64>, i64)>> {
    let (w, args) = f.where_clause();
    let mut stmt = conn.prepare(&format!(
        "SELECT CASE WHEN c.offers_received >= 10 THEN 10 ELSE c.offers_received END AS o, COUNT(*)
         FROM procurement_contracts c {w} GROUP BY o ORDER BY o IS NULL, o"
    ))?;
    let rows = stmt.query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Procedure, contracts with a known number of offers, mean offers, single-offer contracts.
pub type OffersByProcedure = (Option<String>, i64, Option<f64>, i64);

/// Per procedure: contracts with a known number of offers, mean offers, single-offer count.
pub fn offers_by_procedure(
    conn: &Connection,
    f: &Filter,
) -> rusqlite::Result<Vec<OffersByProcedure>> {
    let (and, args) = f.and_clause();
    let mut stmt = conn.prepare(&format!(
        "SELECT c.procedure, COUNT(*), AVG(c.offers_received), COALESCE(SUM(c.offers_received = 1), 0)
         FROM procurement_contracts c WHERE c.offers_received IS NOT NULL {and}
         GROUP BY c.procedure ORDER BY 2 DESC"
    ))?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    rows.collect()
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Concentration {
    pub total: f64,
    pub suppliers: i64,
    /// Sum of squared supplier amounts (HHI = this / total² × 10 000).
    pub sum_squares: f64,
    pub top: Vec<Group>,
}

impl Concentration {
    pub fn hhi(&self) -> Option<f64> {
        (self.total > 0.0).then(|| self.sum_squares / (self.total * self.total) * 10_000.0)
    }
    pub fn top_share(&self, n: usize) -> Option<f64> {
        (self.total > 0.0)
            .then(|| self.top.iter().take(n).map(|g| g.amount).sum::<f64>() / self.total)
    }
}

pub fn concentration(conn: &Connection, f: &Filter, top: i64) -> rusqlite::Result<Concentration> {
    let (w, args) = f.where_clause();
    let per_supplier = format!(
        "SELECT s.id AS id, MAX(s.name) AS name, COUNT(*) AS n, SUM({SUPPLIER_SHARE_SQL}) AS amount
         FROM procurement_contracts c JOIN procurement_contract_suppliers cs ON cs.contract_rowid = c.rowid
         JOIN procurement_suppliers s ON s.rowid = cs.supplier_rowid {w} GROUP BY s.id"
    );
    let (total, suppliers, sum_squares) = conn.query_row(
        &format!(
            "SELECT COALESCE(SUM(amount), 0), COUNT(*), COALESCE(SUM(amount * amount), 0)
             FROM ({per_supplier}) WHERE amount > 0"
        ),
        params_from_iter(args.clone()),
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT id, name, n, amount FROM ({per_supplier}) WHERE amount > 0
         ORDER BY amount DESC, id LIMIT ?"
    ))?;
    let rows = stmt.query_map(params_from_iter(args_with(args, &[top])), |r| {
        Ok(Group {
            key: r.get(0)?,
            label: r.get(1)?,
            contracts: r.get(2)?,
            amount: r.get(3)?,
        })
    })?;
    Ok(Concentration {
        total,
        suppliers,
        sum_squares,
        top: rows.collect::<rusqlite::Result<Vec<_>>>()?,
    })
}

/// Buyer SIRET, name, amount, suppliers, HHI, largest supplier's share.
pub type BuyerConcentration = (String, Option<String>, f64, i64, f64, f64);

/// Per buyer (largest amounts first): amount, suppliers, HHI and the largest supplier's share.
pub fn buyer_hhi(
    conn: &Connection,
    f: &Filter,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Vec<BuyerConcentration>> {
    let (w, args) = f.where_clause();
    let mut stmt = conn.prepare(&format!(
        "WITH pair AS (
           SELECT c.buyer_id AS buyer, cs.supplier_rowid AS supplier, SUM({SUPPLIER_SHARE_SQL}) AS amount
           FROM procurement_contracts c JOIN procurement_contract_suppliers cs ON cs.contract_rowid = c.rowid
           {w} GROUP BY c.buyer_id, cs.supplier_rowid)
         SELECT buyer, (SELECT name FROM procurement_buyers b WHERE b.id = buyer), SUM(amount), COUNT(*),
                SUM(amount * amount) / (SUM(amount) * SUM(amount)) * 10000, MAX(amount) / SUM(amount)
         FROM pair WHERE amount > 0 GROUP BY buyer ORDER BY 3 DESC, 1 LIMIT ? OFFSET ?"
    ))?;
    let rows = stmt.query_map(params_from_iter(args_with(args, &[limit, offset])), |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })?;
    rows.collect()
}

/// Quality findings per code: findings and distinct contracts concerned.
pub fn findings(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<(String, i64, i64)>> {
    let (w, args) = f.where_clause();
    let mut stmt = conn.prepare(&format!(
        "SELECT q.code, COUNT(*), COUNT(DISTINCT q.contract_rowid)
         FROM procurement_contracts c JOIN procurement_quality_findings q ON q.contract_rowid = c.rowid
         {w} GROUP BY q.code ORDER BY 2 DESC, 1"
    ))?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    rows.collect()
}

/// One line of a contract list.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractRow {
    pub rowid: i64,
    pub buyer_id: String,
    pub buyer_name: Option<String>,
    pub contract_id: String,
    pub object: Option<String>,
    pub date: Option<String>,
    pub amount: Option<f64>,
    pub amount_final: Option<f64>,
    pub procedure: Option<String>,
    pub suppliers: Option<String>,
    /// The red flag's value when listing one flag.
    pub flag_value: Option<f64>,
}

/// Columns of a contract row (`ContractRow`), then the flag value expression.
pub(super) const CONTRACT_COLUMNS_SQL: &str = "c.rowid, c.buyer_id, (SELECT name FROM procurement_buyers b WHERE b.id = c.buyer_id),
    c.contract_id, c.object, c.date_notification, {AMOUNT_SQL}, c.amount_final, c.procedure,
    (SELECT group_concat(COALESCE(s.name, s.id), ' ; ') FROM procurement_contract_suppliers cs
     JOIN procurement_suppliers s ON s.rowid = cs.supplier_rowid WHERE cs.contract_rowid = c.rowid)";

pub(super) fn contract_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ContractRow> {
    Ok(ContractRow {
        rowid: r.get(0)?,
        buyer_id: r.get(1)?,
        buyer_name: r.get(2)?,
        contract_id: r.get(3)?,
        object: r.get(4)?,
        date: r.get(5)?,
        amount: r.get(6)?,
        amount_final: r.get(7)?,
        procedure: r.get(8)?,
        suppliers: r.get(9)?,
        flag_value: r.get(10)?,
    })
}

/// Filtered contracts, newest first, optionally restricted to one red flag; with the total.
/// Unfiltered, the total comes from the summary and the page starts from its page mark,
/// so a deep page costs what the first does.
pub fn contracts(
    conn: &Connection,
    f: &Filter,
    flag: Option<&str>,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<ContractRow>, i64)> {
    // Matching only, even during an import: the rows are read live, and the last refresh's
    // marks and total would skip, repeat or cut rows that an import moved or added.
    if f.is_empty()
        && flag.is_none()
        && let Some(h) = super::summary::headline(conn, Derived::Matching)?
        && let Some(start) =
            super::summary::seek(conn, Derived::Matching, Listing::Contracts, offset)?
    {
        let rows = match start {
            Start::At { after, rest } => super::summary::contracts_after(conn, after, rest, limit)?,
            Start::PastEnd => Vec::new(),
        };
        return Ok((rows, h.contracts));
    }
    contracts_computed(conn, f, flag, limit, offset)
}

/// Filtered contracts computed from the contracts table (see [`contracts`]).
pub fn contracts_computed(
    conn: &Connection,
    f: &Filter,
    flag: Option<&str>,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<ContractRow>, i64)> {
    let (and, mut args) = f.and_clause();
    let (join, value) = match flag {
        Some(_) => (
            "JOIN procurement_view_flags fl ON fl.contract_rowid = c.rowid AND fl.flag = ?",
            "fl.value",
        ),
        None => ("", "NULL"),
    };
    if let Some(flag) = flag {
        args.insert(0, SqlValue::Text(flag.to_string()));
    }
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM procurement_contracts c {join} WHERE 1 {and}"),
        params_from_iter(args.clone()),
        |r| r.get(0),
    )?;
    if offset >= total {
        // Past the end: OFFSET would walk every matching row to find nothing.
        return Ok((Vec::new(), total));
    }
    let columns = CONTRACT_COLUMNS_SQL.replace("{AMOUNT_SQL}", AMOUNT_SQL);
    let mut stmt = conn.prepare(&format!(
        "SELECT {columns}, {value}
         FROM procurement_contracts c {join} WHERE 1 {and}
         ORDER BY {CONTRACTS_ORDER_SQL} LIMIT ? OFFSET ?"
    ))?;
    let rows = stmt.query_map(
        params_from_iter(args_with(args, &[limit, offset])),
        contract_row,
    )?;
    Ok((rows.collect::<rusqlite::Result<Vec<_>>>()?, total))
}

/// Flagged contracts per flag within the filter.
pub fn flag_counts(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<(String, i64)>> {
    let (and, args) = f.and_clause();
    let mut stmt = conn.prepare(&format!(
        "SELECT fl.flag, COUNT(*) FROM procurement_view_flags fl
         JOIN procurement_contracts c ON c.rowid = fl.contract_rowid WHERE 1 {and} GROUP BY fl.flag"
    ))?;
    let rows = stmt.query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
