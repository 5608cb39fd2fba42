//! Reads stored contracts back and publishes them as OCDS packages (paginated, filtered).

use rusqlite::{Connection, OptionalExtension, params_from_iter, types::Value as SqlValue};
use serde_json::Value;

use super::model::{self, Contract};
use super::ocds::{self, CpvInfo, OcdsConfig};
use super::source::{ListHint, RawRecord};
use super::views::schema::Derived;
use super::views::summary::Start;

/// Filters shared by the OCDS endpoints and, later, the public views.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct ContractFilter {
    /// Buyer SIRET.
    pub buyer: Option<String>,
    /// Supplier identifier (any scheme).
    pub supplier: Option<String>,
    /// CPV code prefix (`45` = division, `45233` = narrower).
    pub cpv: Option<String>,
    /// Notification date bounds, inclusive, `YYYY-MM-DD`.
    pub date_from: Option<String>,
    pub date_to: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based; ignored when `after` is given.
    pub page: u32,
    pub per_page: u32,
    /// Keyset cursor: the page starts after this contract (rowid) in the listing order, so
    /// a deep page costs what the first does (`OFFSET` walks every skipped row).
    pub after: Option<i64>,
}

pub const MAX_PER_PAGE: u32 = 1000;

impl Page {
    fn limit_offset(self) -> (i64, i64) {
        let per = i64::from(self.per_page.clamp(1, MAX_PER_PAGE));
        if self.after.is_some() {
            return (per, 0);
        }
        (per, (i64::from(self.page.max(1)) - 1) * per)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("base de données : {0}")]
    Db(#[from] rusqlite::Error),
    #[error("contrat stocké illisible (ligne {0})")]
    Corrupt(i64),
    #[error(transparent)]
    Open(#[from] super::db::DbError),
    #[error("curseur de pagination inconnu : {0}")]
    UnknownCursor(i64),
}

/// A stored contract ready for publication.
pub struct StoredContract {
    pub rowid: i64,
    pub contract: Contract,
    pub cpv: CpvInfo,
}

fn where_clause(f: &ContractFilter) -> (String, Vec<SqlValue>) {
    let mut clauses = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    if let Some(b) = &f.buyer {
        clauses.push("c.buyer_id = ?".to_string());
        args.push(SqlValue::Text(b.clone()));
    }
    if let Some(s) = &f.supplier {
        // IN, not a correlated EXISTS: the supplier's contracts come from the supplier id and
        // link indexes instead of a probe per contract of the table (5.6 s to count the
        // largest supplier's contracts at 1M, docs/benchmarks-procurement.md).
        clauses.push(
            "c.rowid IN (SELECT cs.contract_rowid FROM procurement_contract_suppliers cs
              JOIN procurement_suppliers s ON s.rowid = cs.supplier_rowid WHERE s.id = ?)"
                .to_string(),
        );
        args.push(SqlValue::Text(s.clone()));
    }
    if let Some(cpv) = &f.cpv {
        clauses.push("c.cpv LIKE ? ESCAPE '\\'".to_string());
        let escaped = cpv
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        args.push(SqlValue::Text(format!("{escaped}%")));
    }
    if let Some(d) = &f.date_from {
        clauses.push("c.date_notification >= ?".to_string());
        args.push(SqlValue::Text(d.clone()));
    }
    if let Some(d) = &f.date_to {
        clauses.push("c.date_notification <= ?".to_string());
        args.push(SqlValue::Text(d.clone()));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, args)
}

fn row_to_contract(
    rowid: i64,
    kind: &str,
    format: &str,
    raw: &str,
) -> Result<Contract, PublishError> {
    let value: Value = serde_json::from_str(raw).map_err(|_| PublishError::Corrupt(rowid))?;
    let record = RawRecord {
        index: 0,
        hint: if kind == "concession" {
            ListHint::Concession
        } else {
            ListHint::Marche
        },
        format_2022: format == "2022",
        value,
    };
    model::normalise(&record).map_err(|_| PublishError::Corrupt(rowid))
}

/// The keyset condition "after contract `after` in the listing order" on the page-key
/// columns of `alias` (`c` the contracts, `k` the supplier keys), with its arguments.
fn keyset(
    conn: &Connection,
    after: i64,
    alias: &str,
) -> Result<(String, Vec<SqlValue>), PublishError> {
    let (date, buyer, id): (Option<String>, String, String) = conn
        .query_row(
            "SELECT date_notification, buyer_id, contract_id FROM procurement_contracts
             WHERE rowid = ?1",
            [after],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or(PublishError::UnknownCursor(after))?;
    let mut args = Vec::new();
    // Rows after (date, buyer, id) in the listing order; NULL dates sort first.
    let sql = match date {
        Some(date) => {
            args.push(SqlValue::Text(date));
            format!("({alias}.date_notification, {alias}.buyer_id, {alias}.contract_id) > (?, ?, ?)")
        }
        None => format!(
            "(({alias}.date_notification IS NULL AND ({alias}.buyer_id, {alias}.contract_id) > (?, ?))
              OR {alias}.date_notification IS NOT NULL)"
        ),
    };
    args.push(SqlValue::Text(buyer));
    args.push(SqlValue::Text(id));
    Ok((sql, args))
}

/// The supplier-only filter's supplier row, when its page keys can serve the listing
/// (see [`super::views::supplier_keys`]); None: the link-table query.
fn keyed_supplier(conn: &Connection, filter: &ContractFilter) -> Result<Option<i64>, PublishError> {
    let Some(id) = &filter.supplier else {
        return Ok(None);
    };
    let alone = ContractFilter {
        supplier: Some(id.clone()),
        ..ContractFilter::default()
    };
    if filter != &alone {
        return Ok(None);
    }
    Ok(super::views::supplier_keys::supplier_rowid(conn, id)?)
}

/// Contracts matching `filter`, ordered by notification date then id, one page.
pub fn contracts(
    conn: &Connection,
    filter: &ContractFilter,
    page: Page,
) -> Result<Vec<StoredContract>, PublishError> {
    if let Some(supplier) = keyed_supplier(conn, filter)? {
        // A range of the supplier's page keys instead of all its contracts sorted.
        let (clause, mut args) = match page.after {
            Some(after) => {
                let (sql, args) = keyset(conn, after, "k")?;
                (format!("AND {sql}"), args)
            }
            None => (String::new(), Vec::new()),
        };
        let (limit, offset) = page.limit_offset();
        args.insert(0, SqlValue::Integer(supplier));
        args.push(SqlValue::Integer(limit));
        args.push(SqlValue::Integer(offset));
        let sql = super::views::supplier_keys::page_sql(&clause);
        return load(conn, &sql, args);
    }
    let (mut clause, mut args) = where_clause(filter);
    let (mut page, mut skip) = (page, None);
    if page.after.is_none() && filter == &ContractFilter::default() {
        // Unfiltered page N: start from the nearest page mark (a keyset cursor stored by
        // the views' refresh), so a deep page walks fewer than MARK_STRIDE extra rows.
        let (_, offset) = page.limit_offset();
        match super::views::summary::seek(
            conn,
            Derived::Matching,
            super::views::summary::Listing::Ocds,
            offset,
        )? {
            Some(Start::At { after, rest }) => {
                page.after = after;
                skip = Some(rest);
            }
            Some(Start::PastEnd) => return Ok(Vec::new()),
            None => {}
        }
    }
    if let Some(after) = page.after {
        let (keyset, keyset_args) = keyset(conn, after, "c")?;
        args.extend(keyset_args);
        clause = if clause.is_empty() {
            format!("WHERE {keyset}")
        } else {
            format!("{clause} AND {keyset}")
        };
    }
    let (limit, offset) = page.limit_offset();
    let offset = skip.unwrap_or(offset);
    args.push(SqlValue::Integer(limit));
    args.push(SqlValue::Integer(offset));
    let sql = format!(
        "SELECT c.rowid, c.kind, c.format, c.raw_json, c.cpv, c.cpv_label FROM procurement_contracts c {clause}
         ORDER BY c.date_notification, c.buyer_id, c.contract_id LIMIT ? OFFSET ?"
    );
    load(conn, &sql, args)
}

/// Runs a listing query selecting `rowid, kind, format, raw_json, cpv, cpv_label`.
fn load(
    conn: &Connection,
    sql: &str,
    args: Vec<SqlValue>,
) -> Result<Vec<StoredContract>, PublishError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (rowid, kind, format, raw, cpv, label) = row?;
        let contract = row_to_contract(rowid, &kind, &format, &raw)?;
        out.push(StoredContract {
            rowid,
            contract,
            // Only a code found in the official list gets the label (and is official).
            cpv: CpvInfo {
                code: if label.is_some() { cpv } else { None },
                label,
            },
        });
    }
    Ok(out)
}

/// Contracts matching `filter` (unfiltered: from the views' summary when it is current).
pub fn count(conn: &Connection, filter: &ContractFilter) -> Result<i64, PublishError> {
    if filter == &ContractFilter::default()
        && let Some(h) = super::views::summary::headline(conn, Derived::Matching)?
    {
        return Ok(h.contracts);
    }
    if let Some(supplier) = keyed_supplier(conn, filter)? {
        return Ok(
            conn.query_row(super::views::supplier_keys::COUNT_SQL, [supplier], |r| {
                r.get(0)
            })?,
        );
    }
    let (clause, args) = where_clause(filter);
    let sql = format!("SELECT COUNT(*) FROM procurement_contracts c {clause}");
    Ok(conn.query_row(&sql, params_from_iter(args), |r| r.get(0))?)
}

/// Served by the expression index `procurement_contracts_ocid` (migration 2): keep the
/// `buyer_id || contract_id` expression identical to the index's.
const BY_OCID_SQL: &str =
    "SELECT c.rowid, c.kind, c.format, c.raw_json, c.cpv, c.cpv_label FROM procurement_contracts c
     WHERE c.buyer_id || c.contract_id = ?1 ORDER BY c.rowid";

/// The contract whose ocid is given (the ocid embeds buyer SIRET + contract id).
pub fn by_ocid(
    conn: &Connection,
    cfg: &OcdsConfig,
    wanted: &str,
) -> Result<Option<StoredContract>, PublishError> {
    let Some(uid) = wanted.strip_prefix(&format!("{}-", cfg.ocid_prefix)) else {
        return Ok(None);
    };
    let mut stmt = conn.prepare(BY_OCID_SQL)?;
    let mut rows = stmt.query([uid])?;
    // buyer||id is ambiguous only for pathological ids; the first exact ocid wins.
    while let Some(r) = rows.next()? {
        let rowid: i64 = r.get(0)?;
        let contract = row_to_contract(
            rowid,
            &r.get::<_, String>(1)?,
            &r.get::<_, String>(2)?,
            &r.get::<_, String>(3)?,
        )?;
        if ocds::ocid(cfg, &contract) == wanted {
            let label: Option<String> = r.get(5)?;
            let cpv: Option<String> = r.get(4)?;
            return Ok(Some(StoredContract {
                rowid,
                contract,
                cpv: CpvInfo {
                    code: if label.is_some() { cpv } else { None },
                    label,
                },
            }));
        }
    }
    Ok(None)
}

/// Release package for one page of contracts.
pub fn release_package(
    conn: &Connection,
    cfg: &OcdsConfig,
    uri: &str,
    filter: &ContractFilter,
    page: Page,
) -> Result<Value, PublishError> {
    let releases = contracts(conn, filter, page)?
        .iter()
        .flat_map(|s| ocds::releases(cfg, &s.contract, &s.cpv))
        .collect();
    Ok(ocds::release_package(cfg, uri, releases))
}

/// Record package (with compiled releases) for one page of contracts.
pub fn record_package(
    conn: &Connection,
    cfg: &OcdsConfig,
    uri: &str,
    filter: &ContractFilter,
    page: Page,
) -> Result<Value, PublishError> {
    let records = contracts(conn, filter, page)?
        .iter()
        .map(|s| ocds::record(ocds::releases(cfg, &s.contract, &s.cpv)))
        .collect();
    Ok(ocds::record_package(cfg, uri, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the ocid lookup against a full table scan (1M contracts: see
    /// docs/benchmarks-procurement.md).
    #[test]
    fn ocid_lookup_uses_the_ocid_index() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        super::super::db::migrate(&mut conn).expect("migrations");
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {BY_OCID_SQL}"))
            .expect("explain")
            .query_map(["x"], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX procurement_contracts_ocid")),
            "plan: {plan:?}"
        );
    }
}
