//! Builders of the entity views: buyer, supplier, contract lists and pages, red flags.

use rusqlite::{Connection, OptionalExtension};
use serde_json::json;

use super::chart::{self, Bar, ChartText};
use super::filter::Filter;
use super::page::{Cell, JsonBlock, Link, Page, Section, Table};
use super::pages::{self, PER_PAGE, buyer_href, contract_href, headline, href, supplier_href};
use super::redflags::{self, FLAGS, Flag, ValueKind};
use super::stats::{self, ContractRow, Dimension};
use super::{BASE, fmt};
use crate::procurement::ocds::{self, OcdsConfig};
use crate::procurement::publish::{self, PublishError};

#[derive(Debug, thiserror::Error)]
pub enum DetailError {
    #[error("base de données : {0}")]
    Db(#[from] rusqlite::Error),
    #[error("publication : {0}")]
    Publish(#[from] PublishError),
    #[error("introuvable")]
    NotFound,
}

/// Buyer page: the overview restricted to one buyer, with its suppliers.
pub fn buyer(conn: &Connection, id: &str, f: &Filter) -> Result<Page, DetailError> {
    let name: Option<Option<String>> = conn
        .query_row(
            "SELECT name FROM procurement_buyers WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(name) = name else {
        return Err(DetailError::NotFound);
    };
    let f = Filter {
        buyer: Some(id.to_string()),
        ..f.clone()
    };
    let mut p = Page::new(
        "acheteur",
        format!("Acheteur : {}", name.clone().unwrap_or_else(|| id.into())),
    );
    p.intro.push(format!("SIRET {id}"));
    headline(conn, &f, &mut p)?;
    let years = stats::over_time(conn, &f, true)?;
    let points: Vec<(String, f64)> = years
        .iter()
        .map(|g| (g.key.clone().unwrap_or_default(), g.amount))
        .collect();
    p.charts.push(chart::time_series(
        &ChartText {
            id: "acheteur-annees",
            title: "Montant notifié par année",
            desc: "Colonnes : montant initial total de cet acheteur par année de notification.",
        },
        &points,
        fmt::eur_short,
    ));
    let (suppliers, total) = stats::groups(conn, &f, Dimension::Supplier, PER_PAGE, 0)?;
    let c = stats::concentration(conn, &f, 1)?;
    p.figure(
        "hhi",
        "HHI de l'acheteur",
        json!(c.hhi().map(f64::round)),
        c.hhi()
            .map(|h| fmt::int(h.round() as i64))
            .unwrap_or_else(|| "–".into()),
    );
    p.charts.push(chart::bar_chart(
        &ChartText {
            id: "acheteur-titulaires",
            title: "Principaux titulaires de l'acheteur",
            desc: "Barres : montant attribué à chaque titulaire par cet acheteur.",
        },
        &suppliers
            .iter()
            .take(15)
            .map(|g| Bar {
                label: g.label.clone().or(g.key.clone()).unwrap_or_default(),
                value: g.amount,
                text: fmt::eur_short(g.amount),
            })
            .collect::<Vec<_>>(),
    ));
    let mut t = Table::new(
        "titulaires",
        format!("Titulaires de l'acheteur ({} au total)", fmt::int(total)),
        &[
            ("identifiant", "Identifiant", false),
            ("nom", "Titulaire", false),
            ("contrats", "Contrats", true),
            ("montant", "Montant attribué (€ HT)", true),
        ],
    );
    for g in &suppliers {
        let sid = g.key.clone().unwrap_or_default();
        t.rows.push(vec![
            Cell::text(sid.clone()),
            Cell::opt_text(g.label.clone()).link(supplier_href(&sid, &f)),
            Cell::int(g.contracts),
            Cell::eur(Some(g.amount)),
        ]);
    }
    p.tables.push(t);
    p.links.push(Link {
        href: href(&format!("{BASE}/contrats"), &f.with_page(1), &[]),
        text: "Contrats de cet acheteur".into(),
    });
    Ok(p)
}

/// Supplier page: the overview restricted to one supplier, with its buyers.
pub fn supplier(conn: &Connection, id: &str, f: &Filter) -> Result<Page, DetailError> {
    let name: Option<Option<String>> = conn
        .query_row(
            "SELECT MAX(name) FROM procurement_suppliers WHERE id = ?1 GROUP BY id",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(name) = name else {
        return Err(DetailError::NotFound);
    };
    let f = Filter {
        supplier: Some(id.to_string()),
        ..f.clone()
    };
    let mut p = Page::new(
        "titulaire",
        format!("Titulaire : {}", name.clone().unwrap_or_else(|| id.into())),
    );
    p.intro.push(format!("Identifiant {id}"));
    headline(conn, &f, &mut p)?;
    let (buyers, _) = stats::groups(conn, &f, Dimension::Buyer, PER_PAGE, 0)?;
    p.charts.push(chart::bar_chart(
        &ChartText {
            id: "titulaire-acheteurs",
            title: "Acheteurs de ce titulaire",
            desc: "Barres : montant initial des contrats de ce titulaire par acheteur.",
        },
        &buyers
            .iter()
            .take(15)
            .map(|g| Bar {
                label: g.label.clone().or(g.key.clone()).unwrap_or_default(),
                value: g.amount,
                text: fmt::eur_short(g.amount),
            })
            .collect::<Vec<_>>(),
    ));
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
    for g in &buyers {
        let bid = g.key.clone().unwrap_or_default();
        t.rows.push(vec![
            Cell::text(bid.clone()),
            Cell::opt_text(g.label.clone()).link(buyer_href(&bid, &f)),
            Cell::int(g.contracts),
            Cell::eur(Some(g.amount)),
        ]);
    }
    p.tables.push(t);
    p.links.push(Link {
        href: href(&format!("{BASE}/contrats"), &f.with_page(1), &[]),
        text: "Contrats de ce titulaire".into(),
    });
    Ok(p)
}

fn flag_value_cell(flag: &Flag, v: Option<f64>) -> Cell {
    match flag.value_kind {
        ValueKind::None => Cell::opt_text(None),
        ValueKind::Share => Cell::share(v),
        ValueKind::Euros => Cell::eur(v),
        ValueKind::Days => Cell::decimal(v.map(f64::round)),
        ValueKind::Count => match v {
            Some(n) => Cell::int(n.round() as i64),
            None => Cell::opt_text(None),
        },
    }
}

fn contract_table(rows: &[ContractRow], flag: Option<&Flag>) -> Table {
    let mut cols = vec![
        ("date", "Notification", false),
        ("acheteur", "Acheteur", false),
        ("objet", "Objet", false),
        ("titulaires", "Titulaires", false),
        ("procedure", "Procédure", false),
        ("montant", "Montant initial (€ HT)", true),
        ("montant_final", "Montant après modifications", true),
        ("id", "Identifiant", false),
    ];
    if let Some(flag) = flag
        && flag.value_kind != ValueKind::None
    {
        cols.push(("valeur_alerte", flag.value_label, true));
    }
    let mut t = Table::new("contrats", "Contrats", &cols);
    for r in rows {
        let mut row = vec![
            Cell::opt_text(r.date.clone()),
            Cell::opt_text(r.buyer_name.clone().or(Some(r.buyer_id.clone()))),
            Cell::opt_text(r.object.clone()).link(contract_href(r.rowid)),
            Cell::opt_text(r.suppliers.clone()),
            Cell::opt_text(r.procedure.clone()),
            Cell::eur(r.amount),
            Cell::eur(r.amount_final),
            Cell::text(r.contract_id.clone()),
        ];
        if let Some(flag) = flag
            && flag.value_kind != ValueKind::None
        {
            row.push(flag_value_cell(flag, r.flag_value));
        }
        t.rows.push(row);
    }
    t
}

pub fn contracts(conn: &Connection, f: &Filter) -> Result<Page, DetailError> {
    let mut p = Page::new("contrats", "Contrats");
    headline(conn, f, &mut p)?;
    let years = stats::over_time(conn, f, true)?;
    p.charts.push(chart::time_series(
        &ChartText {
            id: "contrats-annees",
            title: "Contrats notifiés par année",
            desc: "Colonnes : nombre de contrats filtrés par année de notification.",
        },
        &years
            .iter()
            .map(|g| (g.key.clone().unwrap_or_default(), g.contracts as f64))
            .collect::<Vec<_>>(),
        fmt::int_f,
    ));
    let (rows, total) =
        stats::contracts(conn, f, None, PER_PAGE, (i64::from(f.page) - 1) * PER_PAGE)?;
    p.tables.push(contract_table(&rows, None));
    p.pagination = Some(pagination(f, total, &format!("{BASE}/contrats")));
    Ok(p)
}

fn pagination(f: &Filter, total: i64, path: &str) -> super::page::Pagination {
    let last = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    super::page::Pagination {
        page: f.page,
        per_page: PER_PAGE as u32,
        total,
        prev: (f.page > 1).then(|| href(path, &f.with_page(f.page - 1), &[])),
        next: (i64::from(f.page) < last).then(|| href(path, &f.with_page(f.page + 1), &[])),
    }
}

pub fn flags_index(conn: &Connection, f: &Filter) -> Result<Page, DetailError> {
    let mut p = Page::new("alertes", "Signaux d'alerte");
    p.intro.push("Indicateurs calculés à partir des DECP pour repérer les contrats qui méritent un examen. Un signal n'est pas une preuve d'irrégularité : chaque page explique le calcul, sa base juridique et les limites des données.".into());
    let h = headline(conn, f, &mut p)?;
    let counts = stats::flag_counts(conn, f)?;
    let count = |slug: &str| {
        counts
            .iter()
            .find(|(s, _)| s == slug)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    p.charts.push(chart::bar_chart(
        &ChartText {
            id: "alertes",
            title: "Contrats signalés par type d'alerte",
            desc: "Barres : nombre de contrats concernés par chaque signal d'alerte.",
        },
        &FLAGS
            .iter()
            .map(|fl| Bar {
                label: fl.title.to_string(),
                value: count(fl.slug) as f64,
                text: fmt::int(count(fl.slug)),
            })
            .collect::<Vec<_>>(),
    ));
    let mut t = Table::new(
        "alertes",
        "Signaux d'alerte",
        &[
            ("alerte", "Signal", false),
            ("contrats", "Contrats signalés", true),
            ("part", "Part des contrats", true),
        ],
    );
    for fl in FLAGS {
        let n = count(fl.slug);
        t.rows.push(vec![
            Cell {
                value: json!(fl.slug),
                text: fl.title.to_string(),
                href: Some(href(&format!("{BASE}/alertes/{}", fl.slug), f, &[])),
            },
            Cell::int(n),
            Cell::share((h.contracts > 0).then(|| n as f64 / h.contracts as f64)),
        ]);
    }
    p.tables.push(t);
    Ok(p)
}

pub fn flag(conn: &Connection, slug: &str, f: &Filter) -> Result<Page, DetailError> {
    let Some(flag) = redflags::by_slug(slug) else {
        return Err(DetailError::NotFound);
    };
    let mut p = Page::new(flag.slug, flag.title);
    let h = headline(conn, f, &mut p)?;
    let (rows, total) = stats::contracts(
        conn,
        f,
        Some(flag.slug),
        PER_PAGE,
        (i64::from(f.page) - 1) * PER_PAGE,
    )?;
    p.figure(
        "signales",
        "Contrats signalés",
        json!(total),
        fmt::int(total),
    );
    let share = (h.contracts > 0).then(|| total as f64 / h.contracts as f64);
    p.figure(
        "part_signales",
        "Part des contrats filtrés",
        json!(share),
        share.map(fmt::percent).unwrap_or_else(|| "–".into()),
    );
    for (heading, text) in [
        ("De quoi s'agit-il ?", flag.what),
        ("Pourquoi c'est important", flag.why),
        ("Base juridique", flag.legal),
        ("Mode de calcul", flag.how),
        ("Limites des données", flag.limits),
    ] {
        p.sections.push(Section {
            heading: heading.into(),
            paragraphs: vec![text.into()],
        });
    }
    let flagged = Filter {
        page: 1,
        ..f.clone()
    };
    let years = flagged_by_year(conn, &flagged, flag.slug)?;
    p.charts.push(chart::time_series(
        &ChartText {
            id: "alerte-annees",
            title: "Contrats signalés par année de notification",
            desc: "Colonnes : nombre de contrats concernés par ce signal, par année.",
        },
        &years,
        fmt::int_f,
    ));
    p.tables.push(contract_table(&rows, Some(flag)));
    if flag.slug == "sous-seuil" {
        p.links.push(Link {
            href: href(&format!("{BASE}/montants"), f, &[]),
            text: "Répartition des montants autour de chaque seuil".into(),
        });
    }
    p.pagination = Some(pagination(
        f,
        total,
        &format!("{BASE}/alertes/{}", flag.slug),
    ));
    Ok(p)
}

fn flagged_by_year(
    conn: &Connection,
    f: &Filter,
    slug: &str,
) -> rusqlite::Result<Vec<(String, f64)>> {
    let (and, mut args) = f.and_clause();
    args.insert(0, rusqlite::types::Value::Text(slug.to_string()));
    let mut stmt = conn.prepare(&format!(
        "SELECT substr(c.date_notification, 1, 4) y, COUNT(*) FROM procurement_view_flags fl
         JOIN procurement_contracts c ON c.rowid = fl.contract_rowid
         WHERE fl.flag = ? AND c.date_notification IS NOT NULL {and} GROUP BY y ORDER BY y"
    ))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as f64))
    })?;
    rows.collect()
}

/// One contract with its modifications, findings, red flags and OCDS release and record.
pub fn contract(conn: &Connection, rowid: i64, cfg: &OcdsConfig) -> Result<Page, DetailError> {
    let row = conn
        .query_row(
            "SELECT c.buyer_id, b.name, c.contract_id, c.object, c.nature, c.procedure, c.cpv,
                    c.cpv_label, c.date_notification, c.date_publication, c.amount, c.amount_final,
                    c.duration_months, c.offers_received, c.place_name, c.modification_count, c.kind
             FROM procurement_contracts c LEFT JOIN procurement_buyers b ON b.id = c.buyer_id
             WHERE c.rowid = ?1",
            [rowid],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    [
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, Option<String>>(9)?,
                        r.get::<_, Option<String>>(14)?,
                        r.get::<_, Option<String>>(16)?,
                    ],
                    (
                        r.get::<_, Option<f64>>(10)?,
                        r.get::<_, Option<f64>>(11)?,
                        r.get::<_, Option<i64>>(12)?,
                        r.get::<_, Option<i64>>(13)?,
                        r.get::<_, i64>(15)?,
                    ),
                ))
            },
        )
        .optional()?;
    let Some((buyer_id, buyer_name, contract_id, object, texts, numbers)) = row else {
        return Err(DetailError::NotFound);
    };
    let [
        nature,
        procedure,
        cpv,
        cpv_label,
        date_n,
        date_p,
        place,
        kind,
    ] = texts;
    let (amount, amount_final, duration, offers, mods) = numbers;
    let mut p = Page::new(
        "contrat",
        format!(
            "Contrat : {}",
            object.clone().unwrap_or_else(|| contract_id.clone())
        ),
    );
    let none = Filter::default().with_page(1);
    let mut t = Table::new(
        "contrat",
        "Données essentielles",
        &[("champ", "Champ", false), ("valeur", "Valeur", false)],
    );
    let mut field = |label: &str, cell: Cell| t.rows.push(vec![Cell::text(label), cell]);
    field("Identifiant", Cell::text(contract_id.clone()));
    field(
        "Acheteur",
        Cell::opt_text(buyer_name.or(Some(buyer_id.clone()))).link(buyer_href(&buyer_id, &none)),
    );
    field("SIRET de l'acheteur", Cell::text(buyer_id.clone()));
    field("Type", Cell::opt_text(kind));
    field("Nature", Cell::opt_text(nature));
    field("Objet", Cell::opt_text(object));
    field("Procédure", Cell::opt_text(procedure));
    field(
        "Code CPV",
        Cell::opt_text(cpv.map(|c| match &cpv_label {
            Some(l) => format!("{c} – {l}"),
            None => c,
        })),
    );
    field("Lieu d'exécution", Cell::opt_text(place));
    field("Date de notification", Cell::opt_text(date_n));
    field("Date de publication des données", Cell::opt_text(date_p));
    field("Montant initial (€ HT)", Cell::eur(amount));
    field(
        "Montant après modifications (€ HT)",
        Cell::eur(amount_final),
    );
    field(
        "Durée (mois)",
        duration.map(Cell::int).unwrap_or(Cell::opt_text(None)),
    );
    field(
        "Offres reçues",
        offers.map(Cell::int).unwrap_or(Cell::opt_text(None)),
    );
    field("Modifications", Cell::int(mods));
    p.tables.push(t);
    let mut t = Table::new(
        "titulaires",
        "Titulaires",
        &[
            ("type", "Type d'identifiant", false),
            ("identifiant", "Identifiant", false),
            ("nom", "Nom", false),
        ],
    );
    let mut stmt = conn.prepare(
        "SELECT s.scheme, s.id, s.name FROM procurement_contract_suppliers cs
         JOIN procurement_suppliers s ON s.rowid = cs.supplier_rowid
         WHERE cs.contract_rowid = ?1 ORDER BY cs.position",
    )?;
    for r in stmt.query_map([rowid], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })? {
        let (scheme, id, name) = r?;
        t.rows.push(vec![
            Cell::text(scheme),
            Cell::text(id.clone()),
            Cell::opt_text(name.or(Some(id.clone()))).link(supplier_href(&id, &none)),
        ]);
    }
    p.tables.push(t);
    let mut t = Table::new(
        "modifications",
        "Modifications",
        &[
            ("numero", "N°", true),
            ("objet", "Objet", false),
            ("date", "Notification", false),
            ("publication", "Publication", false),
            ("duree", "Durée (mois)", true),
            ("montant", "Nouveau montant (€ HT)", true),
        ],
    );
    let mut stmt = conn.prepare(
        "SELECT seq, object, date_notification, date_publication, duration_months, amount
         FROM procurement_modifications WHERE contract_rowid = ?1 ORDER BY seq",
    )?;
    for r in stmt.query_map([rowid], |r| {
        Ok(vec![
            Cell::int(r.get(0)?),
            Cell::opt_text(r.get(1)?),
            Cell::opt_text(r.get(2)?),
            Cell::opt_text(r.get(3)?),
            r.get::<_, Option<i64>>(4)?
                .map(Cell::int)
                .unwrap_or(Cell::opt_text(None)),
            Cell::eur(r.get(5)?),
        ])
    })? {
        t.rows.push(r?);
    }
    p.tables.push(t);
    let mut t = Table::new(
        "signaux",
        "Signaux d'alerte et anomalies",
        &[("type", "Type", false), ("detail", "Détail", false)],
    );
    let mut stmt = conn.prepare(
        "SELECT flag, value FROM procurement_view_flags WHERE contract_rowid = ?1 ORDER BY flag",
    )?;
    for r in stmt.query_map([rowid], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<f64>>(1)?))
    })? {
        let (slug, value) = r?;
        if let Some(flag) = redflags::by_slug(&slug) {
            let v = flag_value_cell(flag, value);
            t.rows.push(vec![
                Cell::text(format!("Alerte : {}", flag.title))
                    .link(format!("{BASE}/alertes/{}", flag.slug)),
                Cell::text(if flag.value_kind == ValueKind::None {
                    String::new()
                } else {
                    format!("{} : {}", flag.value_label, v.text)
                }),
            ]);
        }
    }
    let mut stmt = conn.prepare(
        "SELECT code, field, detail FROM procurement_quality_findings WHERE contract_rowid = ?1
         ORDER BY code, field",
    )?;
    for r in stmt.query_map([rowid], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (code, field, detail) = r?;
        t.rows.push(vec![
            Cell::text(format!("Anomalie : {}", pages::finding_label(&code))),
            Cell::text(if detail.is_empty() {
                field
            } else {
                format!("{field} : {detail}")
            }),
        ]);
    }
    p.tables.push(t);
    // OCDS: the same releases the /ocds endpoints serve.
    let ocid = format!("{}-{}{}", cfg.ocid_prefix, buyer_id, contract_id);
    if let Some(stored) = publish::by_ocid(conn, cfg, &ocid)? {
        let releases = ocds::releases(cfg, &stored.contract, &stored.cpv);
        let record = ocds::record(releases.clone());
        let encoded = pages::segment(&ocid);
        p.json_blocks.push(JsonBlock {
            title: format!("Publications OCDS ({})", releases.len()),
            href: format!("/ocds/releases/{encoded}"),
            pretty: serde_json::to_string_pretty(&releases).unwrap_or_default(),
        });
        p.json_blocks.push(JsonBlock {
            title: "Enregistrement OCDS (publication compilée)".into(),
            href: format!("/ocds/records/{encoded}"),
            pretty: serde_json::to_string_pretty(&record).unwrap_or_default(),
        });
    }
    Ok(p)
}
