//! Builders of the aggregate views: each runs its queries and assembles a [`Page`].

use rusqlite::Connection;
use serde_json::json;

use super::chart::{self, Bar, Bin, ChartText, Marker};
use super::filter::Filter;
use super::page::{Cell, Link, Page, Pagination, Table};
use super::stats::{self, Dimension, Group};
use super::thresholds::{self, THRESHOLDS};
use super::{BASE, cpv_divisions, fmt};

/// Rows per page of list views.
pub const PER_PAGE: i64 = 50;

/// `path?query` with the filter (and extra view keys) applied.
pub fn href(path: &str, f: &Filter, extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, String)> = f.pairs();
    pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let q = serde_urlencoded::to_string(pairs).unwrap_or_default();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}

/// Percent-encodes one path segment (identifiers may hold spaces or slashes).
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn buyer_href(id: &str, f: &Filter) -> String {
    let f = Filter {
        buyer: None,
        ..f.with_page(1)
    };
    href(&format!("{BASE}/acheteurs/{}", segment(id)), &f, &[])
}

pub fn supplier_href(id: &str, f: &Filter) -> String {
    let f = Filter {
        supplier: None,
        ..f.with_page(1)
    };
    href(&format!("{BASE}/titulaires/{}", segment(id)), &f, &[])
}

pub fn contract_href(rowid: i64) -> String {
    format!("{BASE}/contrats/{rowid}")
}

fn pagination(path: &str, f: &Filter, total: i64, extra: &[(&str, &str)]) -> Pagination {
    let last = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    let page = i64::from(f.page);
    Pagination {
        page: f.page,
        per_page: PER_PAGE as u32,
        total,
        prev: (page > 1).then(|| href(path, &f.with_page(f.page - 1), extra)),
        next: (page < last).then(|| href(path, &f.with_page(f.page + 1), extra)),
    }
}

fn offset(f: &Filter) -> i64 {
    (i64::from(f.page) - 1) * PER_PAGE
}

/// The headline figures every page starts with (they follow the filters).
pub fn headline(
    conn: &Connection,
    f: &Filter,
    page: &mut Page,
) -> rusqlite::Result<stats::Headline> {
    let h = stats::headline(conn, f)?;
    page.figure(
        "contrats",
        "Contrats",
        json!(h.contracts),
        fmt::int(h.contracts),
    );
    page.figure(
        "montant",
        "Montant initial total (€ HT)",
        json!(h.amount.round()),
        fmt::eur(h.amount),
    );
    page.figure(
        "acheteurs",
        "Acheteurs",
        json!(h.buyers),
        fmt::int(h.buyers),
    );
    page.figure(
        "titulaires",
        "Titulaires",
        json!(h.suppliers),
        fmt::int(h.suppliers),
    );
    page.figure(
        "modifies",
        "Contrats modifiés",
        json!(h.modified),
        fmt::int(h.modified),
    );
    let period = match (&h.first_date, &h.last_date) {
        (Some(a), Some(b)) => format!("{a} → {b}"),
        _ => "–".to_string(),
    };
    page.figure(
        "periode",
        "Notifications",
        json!({"du": h.first_date, "au": h.last_date}),
        period,
    );
    Ok(h)
}

fn group_bars(groups: &[Group], label: impl Fn(&Group) -> String) -> Vec<Bar> {
    groups
        .iter()
        .map(|g| Bar {
            label: label(g),
            value: g.amount,
            text: fmt::eur_short(g.amount),
        })
        .collect()
}

fn bars_chart(id: &str, title: &str, bars: &[Bar]) -> String {
    chart::bar_chart(
        &ChartText {
            id,
            title,
            desc: "Barres horizontales proportionnelles au montant ; les valeurs exactes sont dans le tableau ci-dessous.",
        },
        bars,
    )
}

pub fn overview(conn: &Connection, f: &Filter) -> rusqlite::Result<Page> {
    let mut p = Page::new("synthese", "Commande publique : vue d'ensemble");
    p.intro.push("Données essentielles de la commande publique (DECP) importées par ce serveur. Montants initiaux hors taxes, montants fictifs (222 222, 999 999…) exclus des sommes.".into());
    let h = headline(conn, f, &mut p)?;
    let years = stats::over_time(conn, f, true)?;
    let points: Vec<(String, f64)> = years
        .iter()
        .map(|g| (g.key.clone().unwrap_or_default(), g.amount))
        .collect();
    p.charts.push(chart::time_series(
        &ChartText {
            id: "annees",
            title: "Montant notifié par année",
            desc: "Colonnes : montant initial total par année de notification.",
        },
        &points,
        fmt::eur_short,
    ));
    let (buyers, _) = stats::groups(conn, f, Dimension::Buyer, 10, 0)?;
    p.charts.push(bars_chart(
        "top-acheteurs",
        "Les 10 acheteurs aux montants les plus élevés",
        &group_bars(&buyers, |g| {
            g.label.clone().or(g.key.clone()).unwrap_or_default()
        }),
    ));
    let mut t = Table::new(
        "annees",
        "Contrats et montants par année de notification",
        &[
            ("annee", "Année", false),
            ("contrats", "Contrats", true),
            ("montant", "Montant (€ HT)", true),
        ],
    );
    for g in &years {
        t.rows.push(vec![
            Cell::opt_text(g.key.clone()),
            Cell::int(g.contracts),
            Cell::eur(Some(g.amount)),
        ]);
    }
    p.tables.push(t);
    p.tables.push(buyer_table(&buyers, f));
    if h.without_date > 0 {
        p.intro.push(format!(
            "{} contrats sans date de notification exploitable n'apparaissent pas dans les séries par date.",
            fmt::int(h.without_date)
        ));
    }
    Ok(p)
}

pub fn over_time(conn: &Connection, f: &Filter, by_year: bool) -> rusqlite::Result<Page> {
    let mut p = Page::new("periodes", "Évolution dans le temps");
    headline(conn, f, &mut p)?;
    let groups = stats::over_time(conn, f, by_year)?;
    let unit = if by_year { "année" } else { "mois" };
    let points: Vec<(String, f64)> = groups
        .iter()
        .map(|g| (g.key.clone().unwrap_or_default(), g.amount))
        .collect();
    let counts: Vec<(String, f64)> = groups
        .iter()
        .map(|g| (g.key.clone().unwrap_or_default(), g.contracts as f64))
        .collect();
    let title_amount = format!("Montant notifié par {unit}");
    let title_count = format!("Nombre de contrats notifiés par {unit}");
    p.charts.push(chart::time_series(
        &ChartText {
            id: "montant-temps",
            title: &title_amount,
            desc: "Colonnes : montant initial total par période de notification.",
        },
        &points,
        fmt::eur_short,
    ));
    p.charts.push(chart::time_series(
        &ChartText {
            id: "nombre-temps",
            title: &title_count,
            desc: "Colonnes : nombre de contrats par période de notification.",
        },
        &counts,
        fmt::int_f,
    ));
    let mut t = Table::new(
        "periodes",
        format!("Contrats et montants par {unit} de notification"),
        &[
            ("periode", "Période", false),
            ("contrats", "Contrats", true),
            ("montant", "Montant (€ HT)", true),
        ],
    );
    for g in &groups {
        t.rows.push(vec![
            Cell::opt_text(g.key.clone()),
            Cell::int(g.contracts),
            Cell::eur(Some(g.amount)),
        ]);
    }
    p.tables.push(t);
    let other = if by_year { "mois" } else { "annee" };
    p.links.push(Link {
        href: href(&format!("{BASE}/periodes"), f, &[("par", other)]),
        text: format!("Voir par {}", if by_year { "mois" } else { "année" }),
    });
    Ok(p)
}

fn buyer_table(groups: &[Group], f: &Filter) -> Table {
    let mut t = Table::new(
        "acheteurs",
        "Acheteurs",
        &[
            ("siret", "SIRET", false),
            ("nom", "Acheteur", false),
            ("contrats", "Contrats", true),
            ("montant", "Montant (€ HT)", true),
        ],
    );
    for g in groups {
        let id = g.key.clone().unwrap_or_default();
        t.rows.push(vec![
            Cell::text(id.clone()),
            Cell::opt_text(g.label.clone()).link(buyer_href(&id, f)),
            Cell::int(g.contracts),
            Cell::eur(Some(g.amount)),
        ]);
    }
    t
}

fn supplier_table(groups: &[Group], f: &Filter) -> Table {
    let mut t = Table::new(
        "titulaires",
        "Titulaires (montant partagé à parts égales entre cotitulaires)",
        &[
            ("identifiant", "Identifiant", false),
            ("nom", "Titulaire", false),
            ("contrats", "Contrats", true),
            ("montant", "Montant attribué (€ HT)", true),
        ],
    );
    for g in groups {
        let id = g.key.clone().unwrap_or_default();
        t.rows.push(vec![
            Cell::text(id.clone()),
            Cell::opt_text(g.label.clone()).link(supplier_href(&id, f)),
            Cell::int(g.contracts),
            Cell::eur(Some(g.amount)),
        ]);
    }
    t
}

/// Lists by buyer, supplier, CPV division or procedure.
pub fn by_dimension(conn: &Connection, f: &Filter, dim: Dimension) -> rusqlite::Result<Page> {
    let (slug, title, path) = match dim {
        Dimension::Buyer => ("acheteurs", "Par acheteur", "acheteurs"),
        Dimension::Supplier => ("titulaires", "Par titulaire", "titulaires"),
        Dimension::CpvDivision => ("cpv", "Par division CPV", "cpv"),
        Dimension::Procedure => ("procedures", "Par procédure", "procedures"),
    };
    let mut p = Page::new(slug, title);
    headline(conn, f, &mut p)?;
    let (groups, total) = stats::groups(conn, f, dim, PER_PAGE, offset(f))?;
    let label = |g: &Group| -> String {
        match dim {
            Dimension::CpvDivision => g
                .key
                .as_deref()
                .map(|d| format!("{d} {}", cpv_divisions::label(d).unwrap_or("")))
                .unwrap_or_else(|| "CPV inconnu".into()),
            _ => g
                .label
                .clone()
                .or(g.key.clone())
                .unwrap_or_else(|| "Non renseigné".into()),
        }
    };
    let shown: Vec<Group> = groups.iter().take(15).cloned().collect();
    p.charts.push(bars_chart(
        &format!("barres-{slug}"),
        &format!("{title} : montants (15 premiers de la page)"),
        &group_bars(&shown, label),
    ));
    let table = match dim {
        Dimension::Buyer => buyer_table(&groups, f),
        Dimension::Supplier => supplier_table(&groups, f),
        Dimension::CpvDivision => {
            let mut t = Table::new(
                "cpv",
                "Divisions CPV (deux premiers chiffres du code principal)",
                &[
                    ("division", "Division", false),
                    ("libelle", "Libellé", false),
                    ("contrats", "Contrats", true),
                    ("montant", "Montant (€ HT)", true),
                ],
            );
            for g in &groups {
                let link = Filter {
                    cpv: g.key.clone(),
                    ..f.with_page(1)
                };
                t.rows.push(vec![
                    Cell::opt_text(g.key.clone()),
                    Cell::opt_text(
                        g.key
                            .as_deref()
                            .and_then(cpv_divisions::label)
                            .map(str::to_string)
                            .or(Some("Code CPV absent ou inconnu".into())),
                    )
                    .link(href(&format!("{BASE}/contrats"), &link, &[])),
                    Cell::int(g.contracts),
                    Cell::eur(Some(g.amount)),
                ]);
            }
            t
        }
        Dimension::Procedure => {
            let mut t = Table::new(
                "procedures",
                "Procédures déclarées",
                &[
                    ("procedure", "Procédure", false),
                    ("contrats", "Contrats", true),
                    ("montant", "Montant (€ HT)", true),
                ],
            );
            for g in &groups {
                let link = Filter {
                    procedure: g.key.clone(),
                    ..f.with_page(1)
                };
                let cell = Cell::opt_text(g.key.clone());
                let cell = if g.key.is_some() {
                    cell.link(href(&format!("{BASE}/contrats"), &link, &[]))
                } else {
                    cell
                };
                t.rows.push(vec![
                    cell,
                    Cell::int(g.contracts),
                    Cell::eur(Some(g.amount)),
                ]);
            }
            t
        }
    };
    p.tables.push(table);
    p.pagination = Some(pagination(&format!("{BASE}/{path}"), f, total, &[]));
    Ok(p)
}

pub fn amounts(conn: &Connection, f: &Filter) -> rusqlite::Result<Page> {
    let mut p = Page::new("montants", "Montants et seuils");
    p.intro.push("Répartition des montants initiaux sur une échelle logarithmique (quatre classes par puissance de dix). Les traits rouges marquent les seuils réglementaires en vigueur pendant la période affichée.".into());
    let h = headline(conn, f, &mut p)?;
    let edges = stats::histogram_edges();
    let (counts, below) = stats::histogram(conn, f)?;
    // Trim empty classes at both ends so the chart shows the data's range.
    let first = counts.iter().position(|n| *n > 0).unwrap_or(0);
    let last = counts.iter().rposition(|n| *n > 0).unwrap_or(0);
    let bins: Vec<Bin> = edges
        .iter()
        .zip(&counts)
        .enumerate()
        .filter(|(i, _)| *i >= first && *i <= last)
        .map(|(_, ((lo, hi), n))| Bin {
            lo: *lo,
            hi: *hi,
            count: *n,
        })
        .collect();
    let in_force = thresholds::in_force(
        f.from.as_deref().or(h.first_date.as_deref()),
        f.to.as_deref().or(h.last_date.as_deref()),
    );
    let markers: Vec<Marker> = in_force
        .iter()
        .map(|t| Marker {
            value: t.amount,
            label: format!("{} ({})", fmt::eur_short(t.amount), t.scope.short()),
        })
        .collect();
    p.charts.push(chart::histogram(
        &ChartText {
            id: "histogramme",
            title: "Nombre de contrats par classe de montant",
            desc: "Histogramme à échelle logarithmique ; lignes pointillées : seuils réglementaires.",
        },
        &bins,
        &markers,
    ));
    let mut t = Table::new(
        "classes",
        "Contrats par classe de montant",
        &[
            ("de", "De (€ HT)", true),
            ("a", "À (exclu)", true),
            ("contrats", "Contrats", true),
        ],
    );
    for b in &bins {
        t.rows.push(vec![
            Cell::eur(Some(b.lo)),
            Cell::eur(Some(b.hi)),
            Cell::int(b.count),
        ]);
    }
    p.tables.push(t);
    if below > 0 {
        p.intro.push(format!(
            "{} contrats ont un montant inférieur à 100 € (souvent 0) et ne figurent pas dans l'histogramme.",
            fmt::int(below)
        ));
    }
    let bunching = stats::bunching(conn, f, super::redflags::BUNCHING_BAND)?;
    let mut t = Table::new(
        "seuils",
        "Seuils réglementaires (montants HT) et contrats autour de chacun (±10 %, pendant sa période de validité)",
        &[
            ("seuil", "Seuil (€ HT)", true),
            ("objet", "Objet", false),
            ("du", "En vigueur du", false),
            ("au", "au", false),
            ("base", "Base juridique", false),
            ("juste_sous", "Contrats juste sous", true),
            ("juste_au_dessus", "Contrats juste au-dessus", true),
        ],
    );
    for (th, (under, over)) in THRESHOLDS.iter().zip(bunching) {
        t.rows.push(vec![
            Cell::eur(Some(th.amount)),
            Cell::text(th.scope.label()),
            Cell::text(th.from),
            Cell::text(if th.to == "2099-12-31" { "–" } else { th.to }),
            Cell::text(th.legal_basis),
            Cell::int(under),
            Cell::int(over),
        ]);
    }
    p.tables.push(t);
    p.links.push(Link {
        href: href(&format!("{BASE}/alertes/sous-seuil"), f, &[]),
        text: "Alerte : montants juste sous un seuil".into(),
    });
    Ok(p)
}

pub fn amendments(conn: &Connection, f: &Filter) -> rusqlite::Result<Page> {
    let mut p = Page::new("modifications", "Modifications (avenants)");
    headline(conn, f, &mut p)?;
    let a = stats::amendments(conn, f)?;
    p.figure(
        "modifications",
        "Modifications publiées",
        json!(a.modifications),
        fmt::int(a.modifications),
    );
    p.figure(
        "hausse",
        "Hausse cumulée des montants (€ HT)",
        json!(a.increase.round()),
        fmt::eur(a.increase),
    );
    let share = (a.initial_of_modified > 0.0).then(|| a.increase / a.initial_of_modified);
    p.figure(
        "hausse_relative",
        "Hausse relative des contrats modifiés",
        json!(share),
        share.map(fmt::percent).unwrap_or_else(|| "–".into()),
    );
    let bars: Vec<Bar> = stats::AMENDMENT_BANDS
        .iter()
        .zip(a.bands)
        .map(|(l, n)| Bar {
            label: l.to_string(),
            value: n as f64,
            text: fmt::int(n),
        })
        .collect();
    p.charts.push(chart::bar_chart(
        &ChartText {
            id: "avenants",
            title: "Contrats modifiés par ampleur de la variation de montant",
            desc: "Barres : nombre de contrats modifiés par classe de variation du montant initial au montant après la dernière modification.",
        },
        &bars,
    ));
    let mut t = Table::new(
        "variations",
        "Contrats modifiés par variation de montant",
        &[
            ("classe", "Variation", false),
            ("contrats", "Contrats", true),
        ],
    );
    for (l, n) in stats::AMENDMENT_BANDS.iter().zip(a.bands) {
        t.rows.push(vec![Cell::text(*l), Cell::int(n)]);
    }
    p.tables.push(t);
    let modified = Filter {
        modified: Some(true),
        ..f.with_page(1)
    };
    p.links.push(Link {
        href: href(&format!("{BASE}/contrats"), &modified, &[]),
        text: "Liste des contrats modifiés".into(),
    });
    for slug in ["modification-10-15", "modification-50"] {
        if let Some(flag) = super::redflags::by_slug(slug) {
            p.links.push(Link {
                href: href(&format!("{BASE}/alertes/{slug}"), f, &[]),
                text: format!("Alerte : {}", flag.title),
            });
        }
    }
    Ok(p)
}

pub fn competition(conn: &Connection, f: &Filter) -> rusqlite::Result<Page> {
    let mut p = Page::new("concurrence", "Concurrence : offres reçues");
    p.intro.push("Le nombre d'offres reçues n'est publié que dans le format 2022 des DECP et par certaines plateformes : les contrats sans cette information sont comptés à part.".into());
    let h = headline(conn, f, &mut p)?;
    p.figure(
        "avec_offres",
        "Contrats avec nombre d'offres connu",
        json!(h.with_offers),
        fmt::int(h.with_offers),
    );
    p.figure(
        "mediane_offres",
        "Nombre médian d'offres",
        json!(h.median_offers),
        h.median_offers
            .map(fmt::decimal)
            .unwrap_or_else(|| "–".into()),
    );
    let dist = stats::offers(conn, f)?;
    let label = |o: Option<i64>| match o {
        None => "Non publié".to_string(),
        Some(10) => "10 offres ou plus".to_string(),
        Some(1) => "1 offre".to_string(),
        Some(n) => format!("{n} offres"),
    };
    let bars: Vec<Bar> = dist
        .iter()
        .map(|(o, n)| Bar {
            label: label(*o),
            value: *n as f64,
            text: fmt::int(*n),
        })
        .collect();
    p.charts.push(chart::bar_chart(
        &ChartText {
            id: "offres",
            title: "Contrats par nombre d'offres reçues",
            desc: "Barres : nombre de contrats pour chaque nombre d'offres reçues.",
        },
        &bars,
    ));
    let mut t = Table::new(
        "offres",
        "Contrats par nombre d'offres reçues",
        &[
            ("offres", "Offres reçues", false),
            ("contrats", "Contrats", true),
        ],
    );
    for (o, n) in &dist {
        t.rows.push(vec![
            Cell {
                value: json!(o),
                text: label(*o),
                href: None,
            },
            Cell::int(*n),
        ]);
    }
    p.tables.push(t);
    let mut t = Table::new(
        "offres-procedures",
        "Offres reçues par procédure (contrats où l'information existe)",
        &[
            ("procedure", "Procédure", false),
            ("contrats", "Contrats", true),
            ("moyenne", "Offres en moyenne", true),
            ("offre_unique", "Une seule offre", true),
        ],
    );
    for (proc_, n, mean, single) in stats::offers_by_procedure(conn, f)? {
        t.rows.push(vec![
            Cell::opt_text(proc_),
            Cell::int(n),
            Cell::decimal(mean),
            Cell::int(single),
        ]);
    }
    p.tables.push(t);
    Ok(p)
}

pub fn concentration(conn: &Connection, f: &Filter) -> rusqlite::Result<Page> {
    let mut p = Page::new("concentration", "Concentration des titulaires");
    p.intro.push("Indice de Herfindahl-Hirschman (HHI) : somme des carrés des parts de chaque titulaire, de 0 (montants très dispersés) à 10 000 (un seul titulaire). Au-delà de 2 500, un marché est usuellement dit très concentré. Le montant d'un contrat est partagé à parts égales entre ses cotitulaires.".into());
    headline(conn, f, &mut p)?;
    let c = stats::concentration(conn, f, 10)?;
    p.figure(
        "hhi",
        "HHI global",
        json!(c.hhi().map(f64::round)),
        c.hhi()
            .map(|h| fmt::int(h.round() as i64))
            .unwrap_or_else(|| "–".into()),
    );
    for n in [1usize, 5, 10] {
        let s = c.top_share(n);
        p.figure(
            &format!("part_top_{n}"),
            &format!(
                "Part des {} premier{} titulaire{}",
                n,
                if n > 1 { "s" } else { "" },
                if n > 1 { "s" } else { "" }
            ),
            json!(s),
            s.map(fmt::percent).unwrap_or_else(|| "–".into()),
        );
    }
    let total = c.total;
    let bars: Vec<Bar> = c
        .top
        .iter()
        .map(|g| Bar {
            label: g.label.clone().or(g.key.clone()).unwrap_or_default(),
            value: g.amount,
            text: fmt::percent(g.amount / total),
        })
        .collect();
    p.charts.push(bars_chart(
        "top-titulaires",
        "Part des 10 premiers titulaires dans le montant total",
        &bars,
    ));
    let mut t = supplier_table(&c.top, f);
    t.id = "top-titulaires".into();
    t.caption = "Les 10 premiers titulaires".into();
    t.columns.push(super::page::Column {
        key: "part".into(),
        label: "Part du total".into(),
        numeric: true,
    });
    for (row, g) in t.rows.iter_mut().zip(&c.top) {
        row.push(Cell::share((total > 0.0).then(|| g.amount / total)));
    }
    p.tables.push(t);
    let mut t = Table::new(
        "hhi-acheteurs",
        "Concentration par acheteur (acheteurs aux montants les plus élevés d'abord)",
        &[
            ("siret", "SIRET", false),
            ("acheteur", "Acheteur", false),
            ("montant", "Montant (€ HT)", true),
            ("titulaires", "Titulaires", true),
            ("hhi", "HHI", true),
            ("part_premier", "Part du premier titulaire", true),
        ],
    );
    let rows = stats::buyer_hhi(conn, f, PER_PAGE, offset(f))?;
    for (id, name, amount, n, hhi, top) in rows {
        t.rows.push(vec![
            Cell::text(id.clone()),
            Cell::opt_text(name).link(buyer_href(&id, f)),
            Cell::eur(Some(amount)),
            Cell::int(n),
            Cell {
                value: json!(hhi.round()),
                text: fmt::int(hhi.round() as i64),
                href: None,
            },
            Cell::share(Some(top)),
        ]);
    }
    p.tables.push(t);
    Ok(p)
}

pub fn quality(conn: &Connection, f: &Filter) -> rusqlite::Result<Page> {
    let mut p = Page::new("qualite", "Qualité des données");
    p.intro.push("Chaque enregistrement importé est contrôlé (SIRET, code CPV, dates, montants fictifs, doublons) ; rien n'est écarté silencieusement : les anomalies sont comptées ici.".into());
    let h = headline(conn, f, &mut p)?;
    let rows = stats::findings(conn, f)?;
    let bars: Vec<Bar> = rows
        .iter()
        .map(|(code, _, n)| Bar {
            label: finding_label(code).to_string(),
            value: *n as f64,
            text: fmt::int(*n),
        })
        .collect();
    p.charts.push(chart::bar_chart(
        &ChartText {
            id: "anomalies",
            title: "Contrats concernés par type d'anomalie",
            desc: "Barres : nombre de contrats présentant chaque type d'anomalie.",
        },
        &bars,
    ));
    let mut t = Table::new(
        "anomalies",
        "Anomalies par type",
        &[
            ("code", "Code", false),
            ("anomalie", "Anomalie", false),
            ("occurrences", "Occurrences", true),
            ("contrats", "Contrats concernés", true),
            ("part", "Part des contrats", true),
        ],
    );
    for (code, n, contracts) in rows {
        t.rows.push(vec![
            Cell::text(code.clone()),
            Cell::text(finding_label(&code)),
            Cell::int(n),
            Cell::int(contracts),
            Cell::share((h.contracts > 0).then(|| contracts as f64 / h.contracts as f64)),
        ]);
    }
    p.tables.push(t);
    let mut t = Table::new(
        "imports",
        "Derniers imports",
        &[
            ("source", "Source", false),
            ("debut", "Début", false),
            ("statut", "Statut", false),
            ("lus", "Lus", true),
            ("inseres", "Insérés", true),
            ("doublons", "Doublons", true),
            ("rejetes", "Rejetés", true),
        ],
    );
    let mut stmt = conn.prepare(
        "SELECT source, started_at, status, read, inserted, duplicates, rejected
         FROM procurement_import_runs ORDER BY id DESC LIMIT 20",
    )?;
    let runs = stmt.query_map([], |r| {
        Ok(vec![
            // Only the file name: server paths are not public.
            Cell::text(
                r.get::<_, String>(0)?
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            ),
            Cell::text(r.get::<_, String>(1)?),
            Cell::text(r.get::<_, String>(2)?),
            Cell::int(r.get(3)?),
            Cell::int(r.get(4)?),
            Cell::int(r.get(5)?),
            Cell::int(r.get(6)?),
        ])
    })?;
    for run in runs {
        t.rows.push(run?);
    }
    p.tables.push(t);
    Ok(p)
}

/// French label of a quality finding code (`quality.rs`).
pub fn finding_label(code: &str) -> &'static str {
    match code {
        "siret_invalide" => "SIRET invalide",
        "siren_au_lieu_de_siret" => "SIREN publié au lieu d'un SIRET",
        "titulaire_absent" => "Aucun titulaire",
        "cpv_absent" => "Code CPV absent",
        "cpv_inconnu" => "Code CPV absent de la nomenclature",
        "cpv_zero_perdu" => "Code CPV ayant perdu son zéro initial",
        "montant_absent" => "Montant absent",
        "montant_fictif" => "Montant fictif (0, 222 222, 999 999…)",
        "montant_negatif" => "Montant négatif",
        "montant_en_texte" => "Montant publié comme texte",
        "date_notification_absente" => "Date de notification absente",
        "date_invalide" => "Date invalide",
        "date_impossible" => "Date impossible (année hors 1990–2100)",
        "date_avec_suffixe" => "Date avec fuseau horaire",
        "publication_avant_notification" => "Publication antérieure à la notification",
        "texte_mal_encode" => "Texte mal encodé",
        "doublon_exact" => "Doublon exact",
        "doublon_identifiant" => "Identifiant réutilisé (même acheteur)",
        _ => "Autre anomalie",
    }
}
