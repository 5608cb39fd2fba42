//! Legal thresholds of French public procurement (amounts excluding VAT, "HT"), with the
//! period each one was in force. The histogram marks the ones in force during the
//! period shown; the "just under a threshold" red flag compares each contract with the
//! thresholds in force on its notification date.
//!
//! Sources: code de la commande publique (CCP) art. R2122-8 (no publicity, no
//! competition: 25 000 € until 31 Dec 2019, 40 000 € since 1 Jan 2020 by décret
//! n° 2019-1344), R2131-12 (MAPA above 90 000 €: BOAMP or legal-notice publicity), and
//! the EU thresholds of directive 2014/24/EU revised every two years by Commission
//! delegated regulations (published in France by an avis in the JORF), applicable
//! through CCP art. R2124-1 and the annexed avis.

/// What a threshold separates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// All buyers, all kinds: below it, no publicity nor competition needed.
    NoPublicity,
    /// MAPA: from here a notice in the BOAMP or a legal-notice journal is required.
    MapaPublicity,
    /// EU formal procedures, supplies and services, central government.
    EuCentral,
    /// EU formal procedures, supplies and services, local authorities and others.
    EuLocal,
    /// EU formal procedures, works (all buyers).
    EuWorks,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub scope: Scope,
    pub amount: f64,
    /// Inclusive bounds, `YYYY-MM-DD`.
    pub from: &'static str,
    pub to: &'static str,
    pub legal_basis: &'static str,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::NoPublicity => "Dispense de publicité et de mise en concurrence",
            Scope::MapaPublicity => "Procédure adaptée : publicité au BOAMP ou dans un JAL",
            Scope::EuCentral => "Procédures formalisées, fournitures et services, État",
            Scope::EuLocal => {
                "Procédures formalisées, fournitures et services, collectivités territoriales"
            }
            Scope::EuWorks => "Procédures formalisées, travaux",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Scope::NoPublicity => "dispense",
            Scope::MapaPublicity => "publicité MAPA",
            Scope::EuCentral => "UE État",
            Scope::EuLocal => "UE collectivités",
            Scope::EuWorks => "UE travaux",
        }
    }
}

const OPEN_END: &str = "2099-12-31";

pub const THRESHOLDS: &[Threshold] = &[
    Threshold {
        scope: Scope::NoPublicity,
        amount: 25_000.0,
        from: "2016-04-01",
        to: "2019-12-31",
        legal_basis: "Décret n° 2016-360 art. 30 I 8°, puis CCP art. R2122-8",
    },
    Threshold {
        scope: Scope::NoPublicity,
        amount: 40_000.0,
        from: "2020-01-01",
        to: OPEN_END,
        legal_basis: "CCP art. R2122-8, décret n° 2019-1344 du 12 décembre 2019",
    },
    Threshold {
        scope: Scope::MapaPublicity,
        amount: 90_000.0,
        from: "2016-04-01",
        to: OPEN_END,
        legal_basis: "CCP art. R2131-12 (décret n° 2016-360 art. 34 auparavant)",
    },
    Threshold {
        scope: Scope::EuCentral,
        amount: 144_000.0,
        from: "2018-01-01",
        to: "2019-12-31",
        legal_basis: "Règlement délégué (UE) 2017/2365",
    },
    Threshold {
        scope: Scope::EuLocal,
        amount: 221_000.0,
        from: "2018-01-01",
        to: "2019-12-31",
        legal_basis: "Règlement délégué (UE) 2017/2365",
    },
    Threshold {
        scope: Scope::EuWorks,
        amount: 5_548_000.0,
        from: "2018-01-01",
        to: "2019-12-31",
        legal_basis: "Règlement délégué (UE) 2017/2365",
    },
    Threshold {
        scope: Scope::EuCentral,
        amount: 139_000.0,
        from: "2020-01-01",
        to: "2021-12-31",
        legal_basis: "Règlement délégué (UE) 2019/1828",
    },
    Threshold {
        scope: Scope::EuLocal,
        amount: 214_000.0,
        from: "2020-01-01",
        to: "2021-12-31",
        legal_basis: "Règlement délégué (UE) 2019/1828",
    },
    Threshold {
        scope: Scope::EuWorks,
        amount: 5_350_000.0,
        from: "2020-01-01",
        to: "2021-12-31",
        legal_basis: "Règlement délégué (UE) 2019/1828",
    },
    Threshold {
        scope: Scope::EuCentral,
        amount: 140_000.0,
        from: "2022-01-01",
        to: "2023-12-31",
        legal_basis: "Règlement délégué (UE) 2021/1952",
    },
    Threshold {
        scope: Scope::EuLocal,
        amount: 215_000.0,
        from: "2022-01-01",
        to: "2023-12-31",
        legal_basis: "Règlement délégué (UE) 2021/1952",
    },
    Threshold {
        scope: Scope::EuWorks,
        amount: 5_382_000.0,
        from: "2022-01-01",
        to: "2023-12-31",
        legal_basis: "Règlement délégué (UE) 2021/1952",
    },
    Threshold {
        scope: Scope::EuCentral,
        amount: 143_000.0,
        from: "2024-01-01",
        to: "2025-12-31",
        legal_basis: "Règlement délégué (UE) 2023/2495",
    },
    Threshold {
        scope: Scope::EuLocal,
        amount: 221_000.0,
        from: "2024-01-01",
        to: "2025-12-31",
        legal_basis: "Règlement délégué (UE) 2023/2495",
    },
    Threshold {
        scope: Scope::EuWorks,
        amount: 5_538_000.0,
        from: "2024-01-01",
        to: "2025-12-31",
        legal_basis: "Règlement délégué (UE) 2023/2495",
    },
];

/// Thresholds whose period overlaps `[from, to]` (open bounds when None).
pub fn in_force(from: Option<&str>, to: Option<&str>) -> Vec<&'static Threshold> {
    THRESHOLDS
        .iter()
        .filter(|t| from.is_none_or(|f| t.to >= f) && to.is_none_or(|e| t.from <= e))
        .collect()
}

/// SQL condition "amount within `[lo·t, hi·t)` of the threshold in force on the
/// notification date", OR-ed over all thresholds. `amount` is the SQL amount expression.
pub fn band_sql(amount: &str, lo: f64, hi: f64) -> String {
    THRESHOLDS
        .iter()
        .map(|t| {
            format!(
                "(c.date_notification BETWEEN '{}' AND '{}' AND {amount} >= {} AND {amount} < {})",
                t.from,
                t.to,
                t.amount * lo,
                t.amount * hi
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn no_publicity_threshold_moved_from_25k_to_40k_in_2020() {
        let at = |d: &str| {
            THRESHOLDS
                .iter()
                .find(|t| t.scope == Scope::NoPublicity && t.from <= d && d <= t.to)
                .map(|t| t.amount)
        };
        assert_eq!(at("2019-12-31"), Some(25_000.0));
        assert_eq!(at("2020-01-01"), Some(40_000.0));
    }

    #[test]
    fn periods_of_one_scope_do_not_overlap() {
        for a in THRESHOLDS {
            for b in THRESHOLDS {
                if a.scope == b.scope && !std::ptr::eq(a, b) {
                    assert!(a.to < b.from || b.to < a.from, "{a:?} overlaps {b:?}");
                }
            }
        }
    }

    #[test]
    fn in_force_selects_by_period() {
        let y2019 = in_force(Some("2019-01-01"), Some("2019-12-31"));
        assert!(y2019.iter().any(|t| t.amount == 25_000.0));
        assert!(!y2019.iter().any(|t| t.amount == 40_000.0));
        assert!(y2019.iter().any(|t| t.amount == 221_000.0));
    }
}
