//! Red flags computable from DECP. A flag is a reason to look closer, never proof of
//! wrongdoing: each has an explanation page (what, why it matters, legal basis, how it is
//! computed, limits of the data). Flags are materialised in `procurement_view_flags` by
//! [`compute`] (run by `schema::refresh` after each import) so the views list and count
//! them with an index instead of re-evaluating predicates on every request.

use rusqlite::Connection;

use super::filter::AMOUNT_SQL;
use super::thresholds::{Scope, THRESHOLDS};

/// Supplier concentration: a supplier holding more than this share of a buyer's amount…
pub const CONCENTRATION_SHARE: f64 = 0.5;
/// …among buyers with at least this many contracts (below, one contract is 100 %).
pub const CONCENTRATION_MIN_CONTRACTS: i64 = 5;
/// Share band under a threshold counted as "just under" (and above as "just over").
pub const BUNCHING_BAND: f64 = 0.10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    pub slug: &'static str,
    pub title: &'static str,
    /// Heading of the flag's value column (what `value` holds).
    pub value_label: &'static str,
    pub value_kind: ValueKind,
    pub what: &'static str,
    pub why: &'static str,
    pub legal: &'static str,
    pub how: &'static str,
    pub limits: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    None,
    Share,
    Euros,
    Days,
    Count,
}

/// Procedures meaning "without publicity or competition" (2019 and 2022 labels).
pub const NO_COMPETITION_SQL: &str = "(lower(c.procedure) LIKE '%sans publicit%' \
     OR lower(c.procedure) LIKE '%sans mise en concurrence%')";

/// Works contracts: CPV division 45 or a nature saying so (concessions de travaux).
pub const WORKS_SQL: &str = "(c.cpv_division = '45' OR lower(c.nature) LIKE '%travaux%')";

pub const FLAGS: &[Flag] = &[
    Flag {
        slug: "sans-concurrence",
        title: "Marchés sans publicité ni mise en concurrence",
        value_label: "",
        value_kind: ValueKind::None,
        what: "Marchés dont la procédure déclarée est un marché négocié « sans publicité ni mise en concurrence préalable ».",
        why: "La mise en concurrence est la règle : elle garantit l'égalité d'accès des entreprises et le meilleur usage de l'argent public. Les exceptions sont permises mais doivent être justifiées ; leur fréquence chez un acheteur mérite d'être regardée.",
        legal: "Code de la commande publique, art. L3 (principes), R2122-1 à R2122-11 (cas de marchés sans publicité ni mise en concurrence : urgence impérieuse, exclusivité, petits montants sous le seuil de dispense de l'art. R2122-8…).",
        how: "Procédure publiée contenant « sans publicité » ou « sans mise en concurrence » (libellés des formats 2019 et 2022).",
        limits: "Le cas de dispense (montant, urgence, exclusivité) n'est pas publié dans les DECP ; beaucoup de ces marchés sont parfaitement réguliers. Les marchés sous le seuil de dispense ne sont souvent pas publiés du tout.",
    },
    Flag {
        slug: "modification-10-15",
        title: "Modifications augmentant le montant de plus de 10 % (15 % pour les travaux)",
        value_label: "Hausse",
        value_kind: ValueKind::Share,
        what: "Marchés dont le montant après la dernière modification dépasse le montant initial de plus de 10 % (fournitures et services) ou 15 % (travaux).",
        why: "Au-delà, la modification ne relève plus du régime « de faible montant » et doit s'appuyer sur un autre motif (clause de réexamen, prestations supplémentaires, circonstances imprévues). Une hausse importante peut révéler un besoin mal évalué ou un contournement de la mise en concurrence.",
        legal: "Code de la commande publique, art. R2194-1 à R2194-10, notamment R2194-8 (modification de faible montant : sous les seuils européens et moins de 10 % ou 15 % du montant initial).",
        how: "Travaux : division CPV 45 ou nature contenant « travaux ». Hausse = montant de la dernière modification ÷ montant initial − 1.",
        limits: "Les DECP 2019 publient le nouveau montant du marché à chaque modification, sans toujours préciser s'il est cumulé ; les accords-cadres sans maximum ont des montants estimés. Les seuils de 10/15 % portent sur le cumul des modifications de faible montant.",
    },
    Flag {
        slug: "modification-50",
        title: "Modifications augmentant le montant de plus de 50 %",
        value_label: "Hausse",
        value_kind: ValueKind::Share,
        what: "Marchés dont le montant après modification dépasse de plus de 50 % le montant initial.",
        why: "Le montant de chaque modification pour prestations supplémentaires ou circonstances imprévues est plafonné à 50 % du marché initial ; au-delà, un nouveau marché mis en concurrence est en principe nécessaire.",
        legal: "Code de la commande publique, art. R2194-3 et R2194-5 (plafond de 50 % par modification pour les pouvoirs adjudicateurs).",
        how: "Montant de la dernière modification ÷ montant initial − 1 > 50 %.",
        limits: "Le plafond s'applique à chaque modification et non au cumul ; les entités adjudicatrices n'y sont pas soumises ; les montants publiés peuvent être erronés (voir la qualité des données).",
    },
    Flag {
        slug: "sous-seuil",
        title: "Montants juste sous un seuil",
        value_label: "Seuil",
        value_kind: ValueKind::Euros,
        what: "Marchés dont le montant est compris entre 90 % et 100 % d'un seuil réglementaire en vigueur à leur date de notification.",
        why: "Un excès de marchés juste sous un seuil (dispense de publicité, publicité obligatoire, procédures formalisées) peut signaler un découpage des achats ou une estimation ajustée pour échapper à une obligation. C'est la répartition qui compte : la page compare la part juste sous le seuil à la part juste au-dessus.",
        legal: "Code de la commande publique, art. R2121-1 à R2121-9 (calcul de la valeur estimée du besoin ; interdiction de scinder les achats pour se soustraire aux règles, art. R2121-4), R2122-8, R2131-12, seuils européens (avis au JORF).",
        how: "Pour chaque seuil en vigueur à la date de notification : montant dans [seuil − 10 %, seuil[. Les seuils européens de travaux ne sont comparés qu'aux marchés de travaux, les autres seuils européens aux autres marchés.",
        limits: "Le montant publié est souvent le maximum d'un accord-cadre ou une estimation ; un montant isolé sous un seuil n'a rien d'anormal. Les seuils s'appliquent à la valeur estimée de tout le besoin, pas à un marché.",
    },
    Flag {
        slug: "offre-unique",
        title: "Une seule offre dans une procédure concurrentielle",
        value_label: "Offres reçues",
        value_kind: ValueKind::Count,
        what: "Marchés passés selon une procédure avec publicité et mise en concurrence mais n'ayant reçu qu'une offre.",
        why: "Une seule offre prive l'acheteur de comparaison ; une fréquence élevée chez un acheteur ou dans un secteur peut indiquer un cahier des charges trop restrictif, des délais trop courts ou une entente. C'est un indicateur du tableau de bord du marché unique de la Commission européenne.",
        legal: "Code de la commande publique, art. L3 (liberté d'accès, égalité de traitement) ; aucune règle n'interdit d'attribuer un marché à l'unique offrant.",
        how: "Champ « offresRecues » égal à 1 et procédure autre que « sans publicité ni mise en concurrence ».",
        limits: "Le nombre d'offres n'existe que dans le format 2022 (et dans certains flux plus anciens) : les marchés sans cette information ne sont pas comptés, ni dans le numérateur ni dans le dénominateur.",
    },
    Flag {
        slug: "concentration",
        title: "Titulaire concentrant plus de la moitié des montants d'un acheteur",
        value_label: "Part de l'acheteur",
        value_kind: ValueKind::Share,
        what: "Marchés d'un titulaire qui reçoit plus de 50 % du montant total attribué par un acheteur ayant au moins 5 marchés.",
        why: "Une forte dépendance d'un acheteur envers un fournisseur réduit la concurrence future et peut signaler un favoritisme ; elle peut aussi refléter un marché unique de grande taille ou un secteur très spécialisé.",
        legal: "Code de la commande publique, art. L3 (égalité de traitement, transparence). Pas de plafond légal de part de marché.",
        how: "Montant d'un marché partagé à parts égales entre ses cotitulaires ; part = montant du titulaire chez l'acheteur ÷ montant total de l'acheteur, sur toutes les données importées (le filtre de période ne change pas le calcul).",
        limits: "Les montants d'accords-cadres sont des maxima ; un seul grand marché suffit à dépasser 50 %. Les identifiants de titulaires mal saisis (SIREN au lieu de SIRET, espaces) dispersent un même fournisseur.",
    },
    Flag {
        slug: "publication-tardive",
        title: "Données publiées plus de deux mois après la notification",
        value_label: "Délai (jours)",
        value_kind: ValueKind::Days,
        what: "Marchés dont la date de publication des données essentielles est postérieure de plus de deux mois à la date de notification.",
        why: "La publication rapide des données essentielles permet le contrôle citoyen et celui des concurrents évincés pendant que les recours sont encore possibles.",
        legal: "Code de la commande publique, art. R2196-1 et arrêtés relatifs aux données essentielles (22 mars 2019, puis 22 décembre 2022) : publication au plus tard deux mois après la notification.",
        how: "Date de publication des données > date de notification + 2 mois (calendaires). Délai affiché en jours.",
        limits: "Seulement quand les deux dates sont publiées et plausibles ; certaines plateformes republient les données en lot, ce qui repousse la date de publication sans retard réel de l'acheteur.",
    },
];

pub fn by_slug(slug: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.slug == slug)
}

/// Rebuilds `procurement_view_flags` from the contracts (inside the caller's transaction).
pub fn compute(conn: &Connection) -> rusqlite::Result<()> {
    let a = AMOUNT_SQL;
    conn.execute("DELETE FROM procurement_view_flags", [])?;
    let insert = |flag: &str, value: &str, from_where: &str| -> rusqlite::Result<usize> {
        conn.execute(
            &format!(
                "INSERT OR IGNORE INTO procurement_view_flags(flag, contract_rowid, value)
                 SELECT '{flag}', c.rowid, {value} {from_where}"
            ),
            [],
        )
    };
    insert(
        "sans-concurrence",
        "NULL",
        &format!("FROM procurement_contracts c WHERE {NO_COMPETITION_SQL}"),
    )?;
    insert(
        "modification-10-15",
        "c.amount_final / c.amount - 1",
        &format!(
            "FROM procurement_contracts c WHERE c.modification_count > 0 AND {a} > 0
             AND c.amount_final > c.amount * (CASE WHEN {WORKS_SQL} THEN 1.15 ELSE 1.10 END)"
        ),
    )?;
    insert(
        "modification-50",
        "c.amount_final / c.amount - 1",
        &format!(
            "FROM procurement_contracts c WHERE c.modification_count > 0 AND {a} > 0
             AND c.amount_final > c.amount * 1.5"
        ),
    )?;
    for t in THRESHOLDS {
        let scope = match t.scope {
            Scope::EuWorks => format!("AND {WORKS_SQL}"),
            Scope::EuCentral | Scope::EuLocal => format!("AND NOT {WORKS_SQL}"),
            Scope::NoPublicity | Scope::MapaPublicity => String::new(),
        };
        insert(
            "sous-seuil",
            &t.amount.to_string(),
            &format!(
                "FROM procurement_contracts c WHERE c.date_notification BETWEEN '{}' AND '{}'
                 AND {a} >= {} AND {a} < {} {scope}",
                t.from,
                t.to,
                t.amount * (1.0 - BUNCHING_BAND),
                t.amount
            ),
        )?;
    }
    insert(
        "offre-unique",
        "c.offers_received",
        &format!(
            "FROM procurement_contracts c WHERE c.offers_received = 1 AND NOT {NO_COMPETITION_SQL}"
        ),
    )?;
    conn.execute(
        &format!(
            "INSERT OR IGNORE INTO procurement_view_flags(flag, contract_rowid, value)
             WITH share AS (
               SELECT c.rowid AS contract_rowid, c.buyer_id, cs.supplier_rowid,
                      {a} / (SELECT COUNT(*) FROM procurement_contract_suppliers n
                             WHERE n.contract_rowid = c.rowid) AS part
               FROM procurement_contracts c
               JOIN procurement_contract_suppliers cs ON cs.contract_rowid = c.rowid),
             per_pair AS (SELECT buyer_id, supplier_rowid, SUM(part) AS amount
                          FROM share GROUP BY buyer_id, supplier_rowid),
             per_buyer AS (SELECT c.buyer_id, SUM({a}) AS total, COUNT(*) AS n
                           FROM procurement_contracts c GROUP BY c.buyer_id)
             SELECT 'concentration', s.contract_rowid, p.amount / b.total
             FROM per_pair p
             JOIN per_buyer b ON b.buyer_id = p.buyer_id
             JOIN share s ON s.buyer_id = p.buyer_id AND s.supplier_rowid = p.supplier_rowid
             WHERE b.n >= {CONCENTRATION_MIN_CONTRACTS} AND b.total > 0
               AND p.amount > {CONCENTRATION_SHARE} * b.total"
        ),
        [],
    )?;
    insert(
        "publication-tardive",
        "julianday(c.date_publication) - julianday(c.date_notification)",
        "FROM procurement_contracts c WHERE c.date_publication IS NOT NULL
         AND c.date_notification IS NOT NULL
         AND c.date_publication > date(c.date_notification, '+2 months')",
    )?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::super::schema;
    use super::*;
    use rusqlite::params;

    /// A bare-bones contract row; `extra` columns are set afterwards by the tests.
    fn contract(conn: &Connection, id: &str, buyer: &str) -> i64 {
        conn.execute(
            "INSERT OR IGNORE INTO procurement_buyers(id, name) VALUES (?1, ?1)",
            [buyer],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO procurement_contracts(buyer_id, contract_id, kind, format,
               modification_count, content_hash, raw_json, first_run, last_run)
             VALUES (?1, ?2, 'marche', '2019', 0, 'h', '{}', 1, 1)",
            params![buyer, id],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    fn set(conn: &Connection, rowid: i64, sql: &str) {
        conn.execute(
            &format!("UPDATE procurement_contracts SET {sql} WHERE rowid = ?1"),
            [rowid],
        )
        .unwrap();
    }

    fn supplier(conn: &Connection, rowid: i64, siret: &str) {
        conn.execute(
            "INSERT OR IGNORE INTO procurement_suppliers(scheme, id, name) VALUES ('SIRET', ?1, ?1)",
            [siret],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO procurement_contract_suppliers(contract_rowid, position, supplier_rowid)
             SELECT ?1, (SELECT COUNT(*) FROM procurement_contract_suppliers WHERE contract_rowid = ?1),
                    rowid FROM procurement_suppliers WHERE id = ?2",
            params![rowid, siret],
        )
        .unwrap();
    }

    fn flagged(conn: &Connection, flag: &str) -> Vec<(i64, Option<f64>)> {
        let mut stmt = conn
            .prepare(
                "SELECT contract_rowid, value FROM procurement_view_flags WHERE flag = ?1
                 ORDER BY contract_rowid",
            )
            .unwrap();
        stmt.query_map([flag], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::procurement::db::migrate(&mut conn).unwrap();
        schema::migrate(&mut conn).unwrap();
        conn
    }

    #[test]
    fn every_flag_has_its_explanation() {
        for f in FLAGS {
            for text in [f.title, f.what, f.why, f.legal, f.how, f.limits] {
                assert!(text.len() > 10, "{}", f.slug);
            }
            assert_eq!(by_slug(f.slug), Some(f));
        }
    }

    #[test]
    fn no_competition_matches_2019_and_2022_labels_only() {
        let conn = db();
        let a = contract(&conn, "a", "b1");
        set(
            &conn,
            a,
            "procedure = 'Marché négocié sans publicité ni mise en concurrence préalable'",
        );
        let b = contract(&conn, "b", "b1");
        set(
            &conn,
            b,
            "procedure = 'Marché passé sans publicité ni mise en concurrence préalable'",
        );
        let c = contract(&conn, "c", "b1");
        set(
            &conn,
            c,
            "procedure = 'Procédure négociée avec mise en concurrence préalable'",
        );
        compute(&conn).unwrap();
        assert_eq!(
            flagged(&conn, "sans-concurrence"),
            vec![(a, None), (b, None)]
        );
    }

    #[test]
    fn amendment_limits_depend_on_works_and_fifty_percent() {
        let conn = db();
        // Services +12 %: over 10 %.
        let s = contract(&conn, "s", "b");
        set(
            &conn,
            s,
            "amount = 100000, amount_final = 112000, modification_count = 1, cpv_division = '72'",
        );
        // Works +12 %: under 15 %.
        let w = contract(&conn, "w", "b");
        set(
            &conn,
            w,
            "amount = 100000, amount_final = 112000, modification_count = 1, cpv_division = '45'",
        );
        // Works +60 %: both flags.
        let w2 = contract(&conn, "w2", "b");
        set(
            &conn,
            w2,
            "amount = 100000, amount_final = 160000, modification_count = 2, cpv_division = '45'",
        );
        // Placeholder initial amount: no ratio.
        let p = contract(&conn, "p", "b");
        set(
            &conn,
            p,
            "amount = 999999, amount_final = 5000000, modification_count = 1",
        );
        compute(&conn).unwrap();
        let ten: Vec<i64> = flagged(&conn, "modification-10-15")
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(ten, vec![s, w2]);
        let fifty = flagged(&conn, "modification-50");
        assert_eq!(fifty.len(), 1);
        assert_eq!(fifty[0].0, w2);
        assert!((fifty[0].1.unwrap() - 0.6).abs() < 1e-9);
    }

    #[test]
    fn just_under_threshold_uses_the_threshold_in_force_on_the_date() {
        let conn = db();
        // 2019: 24 000 is just under 25 000; 2020: 38 000 just under 40 000.
        let a = contract(&conn, "a", "b");
        set(&conn, a, "amount = 24000, date_notification = '2019-06-01'");
        let b = contract(&conn, "b", "b");
        set(&conn, b, "amount = 38000, date_notification = '2020-06-01'");
        // 38 000 in 2019 is not near 25 000 nor 90 000.
        let c = contract(&conn, "c", "b");
        set(&conn, c, "amount = 38000, date_notification = '2019-06-01'");
        // Exactly at the threshold is above, not under.
        let d = contract(&conn, "d", "b");
        set(&conn, d, "amount = 40000, date_notification = '2021-06-01'");
        compute(&conn).unwrap();
        assert_eq!(
            flagged(&conn, "sous-seuil"),
            vec![(a, Some(25_000.0)), (b, Some(40_000.0))]
        );
    }

    #[test]
    fn single_offer_only_in_competitive_procedures() {
        let conn = db();
        let a = contract(&conn, "a", "b");
        set(
            &conn,
            a,
            "offers_received = 1, procedure = 'Appel d''offres ouvert'",
        );
        let b = contract(&conn, "b", "b");
        set(
            &conn,
            b,
            "offers_received = 1, procedure = 'Marché passé sans publicité ni mise en concurrence préalable'",
        );
        let c = contract(&conn, "c", "b");
        set(
            &conn,
            c,
            "offers_received = 3, procedure = 'Appel d''offres ouvert'",
        );
        compute(&conn).unwrap();
        assert_eq!(flagged(&conn, "offre-unique"), vec![(a, Some(1.0))]);
    }

    #[test]
    fn concentration_needs_five_contracts_and_half_the_amount() {
        let conn = db();
        let mut big = Vec::new();
        for i in 0..5 {
            let r = contract(&conn, &format!("k{i}"), "buyer-a");
            set(&conn, r, "amount = 100");
            supplier(&conn, r, if i < 3 { "dominant" } else { "other" });
            big.push(r);
        }
        // Co-contracted: half of 100 to the dominant supplier → 350 / 500 = 70 %.
        let shared = contract(&conn, "shared", "buyer-a");
        set(&conn, shared, "amount = 100");
        supplier(&conn, shared, "dominant");
        supplier(&conn, shared, "third");
        // Buyer with 2 contracts only: never flagged.
        for i in 0..2 {
            let r = contract(&conn, &format!("s{i}"), "buyer-b");
            set(&conn, r, "amount = 100");
            supplier(&conn, r, "dominant");
        }
        compute(&conn).unwrap();
        let got = flagged(&conn, "concentration");
        let rows: Vec<i64> = got.iter().map(|x| x.0).collect();
        assert_eq!(rows, vec![big[0], big[1], big[2], shared]);
        assert!((got[0].1.unwrap() - 350.0 / 600.0).abs() < 1e-9);
    }

    #[test]
    fn late_publication_is_beyond_two_calendar_months() {
        let conn = db();
        let a = contract(&conn, "a", "b");
        set(
            &conn,
            a,
            "date_notification = '2019-01-31', date_publication = '2019-04-01'",
        );
        let b = contract(&conn, "b", "b");
        set(
            &conn,
            b,
            "date_notification = '2019-01-15', date_publication = '2019-03-15'",
        );
        let c = contract(&conn, "c", "b");
        set(&conn, c, "date_notification = '2019-01-15'");
        compute(&conn).unwrap();
        assert_eq!(flagged(&conn, "publication-tardive"), vec![(a, Some(60.0))]);
    }
}
