//! HTML rendering with minijinja. Templates are compiled into the binary and
//! auto-escaped (their names end in `.html`); only the SVG built by [`super::chart`],
//! which escapes its own text, is marked safe.

use std::sync::OnceLock;

use minijinja::{Environment, context};
use serde::Serialize;

use super::filter::Filter;
use super::page::Page;
use super::{API, BASE, NAV, cpv_divisions};

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // The templates are constants checked by the tests: a syntax error fails them.
        for (name, source) in [
            ("layout.html", include_str!("templates/layout.html")),
            ("view.html", include_str!("templates/view.html")),
            ("error.html", include_str!("templates/error.html")),
        ] {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(error = %e, template = name, "invalid template");
            }
        }
        env
    })
}

#[derive(Serialize)]
struct NavItem {
    href: String,
    label: &'static str,
    current: bool,
}

#[derive(Serialize)]
struct Division {
    code: &'static str,
    label: String,
}

/// Renders a view. `path` is the page's path (without query).
pub fn html(
    page: &Page,
    f: &Filter,
    path: &str,
    by_year: bool,
) -> Result<String, minijinja::Error> {
    let nav_filter = f.with_page(1);
    let nav: Vec<NavItem> = NAV
        .iter()
        .map(|(p, label)| {
            let target = format!("{BASE}{p}");
            NavItem {
                href: super::pages::href(&target, &nav_filter, &[]),
                label,
                current: target == path
                    || (!p.is_empty() && path.starts_with(&format!("{target}/"))),
            }
        })
        .collect();
    let extra: Vec<(&str, &str)> = if path.ends_with("/periodes") && !by_year {
        vec![("par", "mois")]
    } else {
        Vec::new()
    };
    let mut csv_extra = extra.clone();
    csv_extra.push(("format", "csv"));
    let csv_href = super::pages::href(path, f, &csv_extra);
    let api_path = format!("{API}{}", path.strip_prefix(BASE).unwrap_or(""));
    let api_href = super::pages::href(&api_path, f, &extra);
    let values: std::collections::BTreeMap<&str, String> = f.pairs().into_iter().collect();
    let divisions: Vec<Division> = cpv_divisions::DIVISIONS
        .iter()
        .map(|(code, label)| Division {
            code,
            label: format!("{code} – {label}"),
        })
        .collect();
    let reset = super::pages::href(path, &Filter::default().with_page(1), &extra);
    env().get_template("view.html")?.render(context! {
        page => page,
        nav => nav,
        csv_href => csv_href,
        api_href => api_href,
        values => values,
        described => f.describe(),
        divisions => divisions,
        action => path,
        par => extra.first().map(|(_, v)| *v),
        reset => reset,
        base => BASE,
    })
}

pub fn error(status: u16, message: &str) -> Result<String, minijinja::Error> {
    env().get_template("error.html")?.render(context! {
        status => status,
        message => message,
        base => BASE,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::super::page::{Cell, Table};
    use super::*;

    #[test]
    fn templates_compile_and_escape_data() {
        let mut p = Page::new("x", "Titre <b>gras</b>");
        p.figure("n", "Nombre", serde_json::json!(1), "1".into());
        let mut t = Table::new("t", "Légende", &[("nom", "Nom", false)]);
        t.rows.push(vec![
            Cell::text("<script>alert(1)</script>").link("/marches?a=1&b=2".into()),
        ]);
        p.tables.push(t);
        p.charts
            .push("<svg role=\"img\"><title>ok</title></svg>".into());
        let f = Filter::parse_query("acheteur=%22%3E%3Cx").unwrap();
        let html = html(&p, &f, "/marches/acheteurs", true).unwrap();
        assert!(html.contains("lang=\"fr\""));
        assert!(html.contains("Titre &lt;b&gt;gras&lt;"));
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("<svg role=\"img\">"));
        assert!(!html.contains("\"><x"));
        assert!(html.contains("format=csv"));
        assert!(html.contains("&#x2f;api&#x2f;procurement&#x2f;acheteurs"));
        assert!(error(404, "page introuvable").unwrap().contains("404"));
    }
}
