//! The filters of the public views. They live in the URL query (shareable, bookmarkable,
//! the same for HTML, CSV and JSON) and become one SQL `WHERE` clause over
//! `procurement_contracts c`.

use rusqlite::types::Value as SqlValue;

use super::schema::Derived;
use crate::procurement::quality::clean_date;

/// Amounts publishers type instead of the real one (see `quality::PLACEHOLDER_AMOUNTS`);
/// 0 is kept out of this list because it does not distort sums.
pub const AMOUNT_SQL: &str = "(CASE WHEN c.amount IN (222222, 999999, 999999999) OR c.amount < 0 THEN NULL ELSE c.amount END)";
/// The placeholder amounts of [`AMOUNT_SQL`], as an SQL list.
pub const PLACEHOLDER_AMOUNTS_SQL: &str = "(222222, 999999, 999999999)";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Notification date bounds, inclusive, `YYYY-MM-DD`.
    pub from: Option<String>,
    pub to: Option<String>,
    /// Buyer SIRET.
    pub buyer: Option<String>,
    /// Supplier identifier (any scheme).
    pub supplier: Option<String>,
    /// CPV division, two digits.
    pub cpv: Option<String>,
    /// Procedure label, exactly as published.
    pub procedure: Option<String>,
    /// Amount band in euros: `min <= amount < max`.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Some(true): only contracts with at least one modification.
    pub modified: Option<bool>,
    /// 1-based page of list views.
    pub page: u32,
    /// Not a filter, never from the URL: which derived data the request may read (the
    /// handler sets it from `live::basis`; the last refresh's only while an import runs).
    pub derived: Derived,
}

/// Why a query parameter was refused (shown to the user, never contains the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("date invalide pour « {0} » (attendu AAAA-MM-JJ)")]
    Date(&'static str),
    #[error("montant invalide pour « {0} »")]
    Amount(&'static str),
    #[error("division CPV invalide (attendu deux chiffres)")]
    Cpv,
    #[error("valeur invalide pour « modifie » (oui ou non)")]
    Modified,
    #[error("numéro de page invalide")]
    Page,
}

/// Query keys that are not filters but belong to one view (kept in links).
pub const VIEW_KEYS: &[&str] = &["format", "par", "seuil"];

fn non_empty(v: &str) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn date(key: &'static str, v: &str, end: bool) -> Result<Option<String>, FilterError> {
    let Some(t) = non_empty(v) else {
        return Ok(None);
    };
    // A bare year or year-month is a convenient period bound.
    let full = match t.len() {
        4 if end => format!("{t}-12-31"),
        4 => format!("{t}-01-01"),
        7 if end => {
            let next = clean_date(Some(&format!("{t}-31")))
                .or_else(|| clean_date(Some(&format!("{t}-30"))))
                .or_else(|| clean_date(Some(&format!("{t}-29"))))
                .or_else(|| clean_date(Some(&format!("{t}-28"))));
            next.ok_or(FilterError::Date(key))?
        }
        7 => format!("{t}-01"),
        _ => t,
    };
    match clean_date(Some(&full)) {
        Some(d) if d.len() == full.len() => Ok(Some(d)),
        _ => Err(FilterError::Date(key)),
    }
}

fn amount(key: &'static str, v: &str) -> Result<Option<f64>, FilterError> {
    let Some(t) = non_empty(v) else {
        return Ok(None);
    };
    let cleaned: String = t
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{202f}')
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    match cleaned.parse::<f64>() {
        Ok(a) if a.is_finite() && a >= 0.0 => Ok(Some(a)),
        _ => Err(FilterError::Amount(key)),
    }
}

impl Filter {
    /// Parses the query pairs (unknown keys are ignored, empty values mean "no filter").
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, FilterError> {
        let mut f = Filter {
            page: 1,
            ..Filter::default()
        };
        for (k, v) in pairs {
            match k.as_str() {
                "du" => f.from = date("du", v, false)?,
                "au" => f.to = date("au", v, true)?,
                "acheteur" => f.buyer = non_empty(v),
                "titulaire" => f.supplier = non_empty(v),
                "cpv" => {
                    f.cpv = match non_empty(v) {
                        None => None,
                        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()) => Some(c),
                        Some(_) => return Err(FilterError::Cpv),
                    }
                }
                "procedure" => f.procedure = non_empty(v),
                "min" => f.min = amount("min", v)?,
                "max" => f.max = amount("max", v)?,
                "modifie" => {
                    f.modified = match v.trim() {
                        "" => None,
                        "oui" => Some(true),
                        "non" => Some(false),
                        _ => return Err(FilterError::Modified),
                    }
                }
                "page" => {
                    f.page = match non_empty(v) {
                        None => 1,
                        Some(p) => p
                            .parse::<u32>()
                            .ok()
                            .filter(|p| *p >= 1)
                            .ok_or(FilterError::Page)?,
                    }
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// Parses a raw query string (`a=b&c=d`).
    pub fn parse_query(query: &str) -> Result<Self, FilterError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        Self::parse(&pairs)
    }

    /// The filter as query pairs, in a fixed order (page omitted when 1).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut push = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k, v));
            }
        };
        push("du", self.from.clone());
        push("au", self.to.clone());
        push("acheteur", self.buyer.clone());
        push("titulaire", self.supplier.clone());
        push("cpv", self.cpv.clone());
        push("procedure", self.procedure.clone());
        push("min", self.min.map(|a| a.to_string()));
        push("max", self.max.map(|a| a.to_string()));
        push(
            "modifie",
            self.modified
                .map(|m| if m { "oui" } else { "non" }.to_string()),
        );
        if self.page > 1 {
            push("page", Some(self.page.to_string()));
        }
        out
    }

    /// `a=b&c=d` (percent-encoded), empty when no filter is set.
    pub fn to_query(&self) -> String {
        serde_urlencoded::to_string(self.pairs()).unwrap_or_default()
    }

    /// The same filter on another page.
    pub fn with_page(&self, page: u32) -> Self {
        Self {
            page: page.max(1),
            ..self.clone()
        }
    }

    pub fn is_empty(&self) -> bool {
        let bare = Filter {
            page: 1,
            derived: Derived::default(),
            ..self.clone()
        };
        bare == Filter::default().with_page(1)
    }

    /// `WHERE …` (or "") over `procurement_contracts c`, with its arguments.
    pub fn where_clause(&self) -> (String, Vec<SqlValue>) {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<SqlValue> = Vec::new();
        let mut text = |clause: &str, v: &Option<String>| {
            if let Some(v) = v {
                clauses.push(clause.to_string());
                args.push(SqlValue::Text(v.clone()));
            }
        };
        text("c.date_notification >= ?", &self.from);
        text("c.date_notification <= ?", &self.to);
        text("c.buyer_id = ?", &self.buyer);
        text(
            "c.rowid IN (SELECT cs.contract_rowid FROM procurement_contract_suppliers cs
              JOIN procurement_suppliers s ON s.rowid = cs.supplier_rowid WHERE s.id = ?)",
            &self.supplier,
        );
        text("c.cpv_division = ?", &self.cpv);
        text("c.procedure = ?", &self.procedure);
        // `AMOUNT_SQL` within [min, max), spelled on the bare column so the amount index
        // serves the range (bounds are never negative: `amount` refuses them).
        if self.min.is_some() || self.max.is_some() {
            clauses.push(format!("c.amount NOT IN {PLACEHOLDER_AMOUNTS_SQL}"));
        }
        if let Some(min) = self.min {
            clauses.push("c.amount >= ?".to_string());
            args.push(SqlValue::Real(min));
        }
        if let Some(max) = self.max {
            if self.min.is_none() {
                clauses.push("c.amount >= 0".to_string());
            }
            clauses.push("c.amount < ?".to_string());
            args.push(SqlValue::Real(max));
        }
        match self.modified {
            Some(true) => clauses.push("c.modification_count > 0".to_string()),
            Some(false) => clauses.push("c.modification_count = 0".to_string()),
            None => {}
        }
        if clauses.is_empty() {
            (String::new(), args)
        } else {
            (format!("WHERE {}", clauses.join(" AND ")), args)
        }
    }

    /// Same as [`where_clause`](Self::where_clause) but starting with `AND` (or "") to
    /// extend an existing `WHERE`.
    pub fn and_clause(&self) -> (String, Vec<SqlValue>) {
        let (w, args) = self.where_clause();
        match w.strip_prefix("WHERE ") {
            Some(rest) => (format!("AND {rest}"), args),
            None => (String::new(), args),
        }
    }

    /// Human description of the active filters, for page headers and CSV comments.
    pub fn describe(&self) -> Vec<(String, String)> {
        let label = |k: &str| match k {
            "du" => "Notifiés à partir du",
            "au" => "Notifiés jusqu'au",
            "acheteur" => "Acheteur",
            "titulaire" => "Titulaire",
            "cpv" => "Division CPV",
            "procedure" => "Procédure",
            "min" => "Montant minimum (€ HT)",
            "max" => "Montant maximum exclu (€ HT)",
            "modifie" => "Modifié",
            _ => "Page",
        };
        self.pairs()
            .into_iter()
            .filter(|(k, _)| *k != "page")
            .map(|(k, v)| (label(k).to_string(), v))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Result<Filter, FilterError> {
        Filter::parse_query(s)
    }

    #[test]
    fn empty_values_mean_no_filter() {
        let f = q("du=&au=&acheteur=&cpv=&modifie=&page=").unwrap();
        assert!(f.is_empty());
        assert_eq!(f.to_query(), "");
        assert_eq!(f.where_clause().0, "");
    }

    #[test]
    fn years_and_months_expand_to_period_bounds() {
        let f = q("du=2019&au=2019-02").unwrap();
        assert_eq!(f.from.as_deref(), Some("2019-01-01"));
        assert_eq!(f.to.as_deref(), Some("2019-02-28"));
        assert_eq!(q("au=2020-02").unwrap().to.as_deref(), Some("2020-02-29"));
    }

    #[test]
    fn bad_values_are_refused_without_echoing_them() {
        assert_eq!(q("du=2019-13-01"), Err(FilterError::Date("du")));
        assert_eq!(q("cpv=4"), Err(FilterError::Cpv));
        assert_eq!(q("min=-3"), Err(FilterError::Amount("min")));
        assert_eq!(q("modifie=peut-etre"), Err(FilterError::Modified));
        assert_eq!(q("page=0"), Err(FilterError::Page));
        assert!(!FilterError::Date("du").to_string().contains("2019"));
    }

    #[test]
    fn french_amounts_parse() {
        let f = q("min=40%20000&max=89999%2C5").unwrap();
        assert_eq!(f.min, Some(40000.0));
        assert_eq!(f.max, Some(89999.5));
    }

    #[test]
    fn where_clause_has_one_argument_per_placeholder() {
        let f = q("du=2019&acheteur=123&titulaire=456&cpv=45&procedure=Proc%C3%A9dure%20adapt%C3%A9e&min=1&max=2&modifie=oui").unwrap();
        let (sql, args) = f.where_clause();
        assert_eq!(sql.matches('?').count(), args.len());
        assert!(sql.contains("modification_count > 0"));
        let (and, _) = f.and_clause();
        assert!(and.starts_with("AND "));
    }

    proptest! {
        #[test]
        fn filter_round_trips_through_the_url(
            y in 1995i32..2099, m in 1u32..13, d in 1u32..29,
            buyer in proptest::option::of("[0-9A-Za-z &é'/?=#%+]{1,20}"),
            cpv in proptest::option::of(10u32..99),
            procedure in proptest::option::of("[A-Za-zéè' ]{1,30}"),
            min in proptest::option::of(0u32..10_000_000),
            modified in proptest::option::of(any::<bool>()),
            page in 1u32..500,
        ) {
            let f = Filter {
                from: Some(format!("{y:04}-{m:02}-{d:02}")),
                to: None,
                buyer: buyer.map(|b| b.trim().to_string()).filter(|b| !b.is_empty()),
                supplier: None,
                cpv: cpv.map(|c| c.to_string()),
                procedure: procedure.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()),
                min: min.map(f64::from),
                max: Some(12.5),
                modified,
                page,
                derived: Derived::default(),
            };
            let back = Filter::parse_query(&f.to_query()).unwrap();
            prop_assert_eq!(back, f);
        }
    }
}
