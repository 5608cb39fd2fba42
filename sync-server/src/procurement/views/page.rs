//! What every view produces: figures, charts, tables and text. One structure feeds the
//! HTML template, the CSV download (the page's main table) and the JSON API, so the three
//! always carry the same numbers.

use serde::Serialize;
use serde_json::{Value, json};

use super::fmt;

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub key: String,
    pub label: String,
    pub value: Value,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub key: String,
    pub label: String,
    pub numeric: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// Machine value (JSON/CSV).
    pub value: Value,
    /// French display text (HTML).
    pub text: String,
    pub href: Option<String>,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Self {
        let s = s.into();
        Self {
            value: Value::String(s.clone()),
            text: s,
            href: None,
        }
    }
    pub fn opt_text(s: Option<String>) -> Self {
        match s {
            Some(s) => Self::text(s),
            None => Self {
                value: Value::Null,
                text: "–".into(),
                href: None,
            },
        }
    }
    pub fn int(n: i64) -> Self {
        Self {
            value: json!(n),
            text: fmt::int(n),
            href: None,
        }
    }
    pub fn eur(a: Option<f64>) -> Self {
        match a {
            Some(a) if a.is_finite() => Self {
                value: json!((a * 100.0).round() / 100.0),
                text: fmt::eur(a),
                href: None,
            },
            _ => Self {
                value: Value::Null,
                text: "–".into(),
                href: None,
            },
        }
    }
    pub fn share(s: Option<f64>) -> Self {
        match s {
            Some(s) if s.is_finite() => Self {
                value: json!((s * 10000.0).round() / 10000.0),
                text: fmt::percent(s),
                href: None,
            },
            _ => Self {
                value: Value::Null,
                text: "–".into(),
                href: None,
            },
        }
    }
    pub fn decimal(v: Option<f64>) -> Self {
        match v {
            Some(v) if v.is_finite() => Self {
                value: json!((v * 100.0).round() / 100.0),
                text: fmt::decimal(v),
                href: None,
            },
            _ => Self {
                value: Value::Null,
                text: "–".into(),
                href: None,
            },
        }
    }
    pub fn link(mut self, href: String) -> Self {
        self.href = Some(href);
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub id: String,
    pub caption: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(id: &str, caption: impl Into<String>, columns: &[(&str, &str, bool)]) -> Self {
        Self {
            id: id.to_string(),
            caption: caption.into(),
            columns: columns
                .iter()
                .map(|(k, l, n)| Column {
                    key: k.to_string(),
                    label: l.to_string(),
                    numeric: *n,
                })
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Rows as objects keyed by column (the JSON API shape).
    pub fn json_rows(&self) -> Vec<Value> {
        self.rows
            .iter()
            .map(|row| {
                let mut o = serde_json::Map::new();
                for (c, cell) in self.columns.iter().zip(row) {
                    o.insert(c.key.clone(), cell.value.clone());
                }
                Value::Object(o)
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub heading: String,
    pub paragraphs: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JsonBlock {
    pub title: String,
    pub href: String,
    pub pretty: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pagination {
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub href: String,
    pub text: String,
}

/// One rendered view.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Page {
    /// Stable name (API path, CSV file name).
    pub slug: String,
    pub title: String,
    pub intro: Vec<String>,
    pub figures: Vec<Figure>,
    /// Inline SVG, already escaped by `chart`.
    pub charts: Vec<String>,
    pub tables: Vec<Table>,
    pub sections: Vec<Section>,
    pub json_blocks: Vec<JsonBlock>,
    pub pagination: Option<Pagination>,
    pub links: Vec<Link>,
}

impl Page {
    pub fn new(slug: &str, title: impl Into<String>) -> Self {
        Self {
            slug: slug.to_string(),
            title: title.into(),
            ..Self::default()
        }
    }

    pub fn figure(&mut self, key: &str, label: &str, value: Value, text: String) {
        self.figures.push(Figure {
            key: key.into(),
            label: label.into(),
            value,
            text,
        });
    }

    /// The CSV table: the first table, or the figures when the page has none.
    pub fn main_table(&self) -> Table {
        if let Some(t) = self.tables.first() {
            return t.clone();
        }
        let mut t = Table::new(
            "chiffres",
            "Chiffres clés",
            &[
                ("indicateur", "Indicateur", false),
                ("valeur", "Valeur", true),
            ],
        );
        for f in &self.figures {
            t.rows.push(vec![
                Cell::text(f.label.clone()),
                Cell {
                    value: f.value.clone(),
                    text: f.text.clone(),
                    href: None,
                },
            ]);
        }
        t
    }

    /// The JSON API body.
    pub fn to_json(&self, filter: &[(&'static str, String)]) -> Value {
        let filters: serde_json::Map<String, Value> = filter
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        json!({
            "view": self.slug,
            "title": self.title,
            "filters": filters,
            "figures": self.figures.iter().map(|f| json!({"key": f.key, "label": f.label, "value": f.value})).collect::<Vec<_>>(),
            "tables": self.tables.iter().map(|t| json!({
                "id": t.id,
                "caption": t.caption,
                "columns": t.columns,
                "rows": t.json_rows(),
            })).collect::<Vec<_>>(),
            "pagination": self.pagination.as_ref().map(|p| json!({"page": p.page, "per_page": p.per_page, "total": p.total})),
        })
    }
}

/// One CSV field (RFC 4180): quoted when it holds a separator, quote or line break;
/// quotes doubled. A leading `=`, `+`, `-` or `@` in text is prefixed with `'` so a
/// spreadsheet does not run it as a formula (CSV injection).
pub fn csv_field(v: &Value) -> String {
    let raw = match v {
        Value::Null => return String::new(),
        Value::String(s) => {
            let formula =
                s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err();
            if formula { format!("'{s}") } else { s.clone() }
        }
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    };
    if raw.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", raw.replace('"', "\"\""))
    } else {
        raw
    }
}

/// The table as CSV (header = column keys, CRLF line ends, UTF-8).
pub fn to_csv(t: &Table) -> String {
    let mut out = String::new();
    let header: Vec<String> = t
        .columns
        .iter()
        .map(|c| csv_field(&Value::String(c.key.clone())))
        .collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in &t.rows {
        let line: Vec<String> = row.iter().map(|c| csv_field(&c.value)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_separators_quotes_and_newlines() {
        assert_eq!(csv_field(&json!("simple")), "simple");
        assert_eq!(csv_field(&json!("a,b")), "\"a,b\"");
        assert_eq!(csv_field(&json!("dit \"oui\"")), "\"dit \"\"oui\"\"\"");
        assert_eq!(csv_field(&json!("l1\nl2")), "\"l1\nl2\"");
        assert_eq!(csv_field(&json!(12.5)), "12.5");
        assert_eq!(csv_field(&Value::Null), "");
    }

    #[test]
    fn csv_neutralises_formulas_but_not_negative_numbers() {
        assert_eq!(
            csv_field(&json!("=HYPERLINK(\"x\")")),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(csv_field(&json!("@SUM(A1)")), "'@SUM(A1)");
        assert_eq!(csv_field(&json!("-12")), "-12");
    }

    #[test]
    fn csv_has_header_and_one_line_per_row() {
        let mut t = Table::new(
            "t",
            "T",
            &[("nom", "Nom", false), ("montant", "Montant", true)],
        );
        t.rows
            .push(vec![Cell::text("Ville, de Paris"), Cell::eur(Some(1.5))]);
        t.rows.push(vec![Cell::opt_text(None), Cell::int(3)]);
        let csv = to_csv(&t);
        assert_eq!(csv, "nom,montant\r\n\"Ville, de Paris\",1.5\r\n,3\r\n");
        let rows = t.json_rows();
        assert_eq!(rows[1], json!({"nom": null, "montant": 3}));
    }

    #[test]
    fn main_table_falls_back_to_figures() {
        let mut p = Page::new("x", "X");
        p.figure("n", "Nombre", json!(3), "3".into());
        let t = p.main_table();
        assert_eq!(t.rows.len(), 1);
        assert_eq!(to_csv(&t), "indicateur,valeur\r\nNombre,3\r\n");
    }
}
