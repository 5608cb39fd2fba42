//! Data quality checks run on every imported record. Findings are stored, never
//! used to drop a record: the public views show them.

use std::collections::HashMap;
use std::path::Path;

use super::model::{Contract, Party};

/// One problem found in one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable code the views group by (e.g. `siret_invalide`).
    pub code: &'static str,
    /// DECP field concerned (e.g. `titulaires[0].id`).
    pub field: String,
    /// The offending value or a short explanation.
    pub detail: String,
}

impl Finding {
    fn new(code: &'static str, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            code,
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// Amounts publishers type when they do not want to give the real one.
pub const PLACEHOLDER_AMOUNTS: [f64; 4] = [0.0, 222_222.0, 999_999.0, 999_999_999.0];

/// La Poste's SIREN: its establishments' SIRETs use a digit sum divisible by 5.
const LA_POSTE_SIREN: &str = "356000000";

fn luhn(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Validity of a SIRET (14 digits, Luhn, La Poste exception).
pub fn siret_is_valid(siret: &str) -> bool {
    if siret.len() != 14 || !siret.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if luhn(siret) {
        return true;
    }
    siret.starts_with(LA_POSTE_SIREN)
        && siret
            .bytes()
            .map(|b| u32::from(b - b'0'))
            .sum::<u32>()
            .is_multiple_of(5)
}

/// Validity of a SIREN (9 digits, Luhn).
pub fn siren_is_valid(siren: &str) -> bool {
    siren.len() == 9 && siren.bytes().all(|b| b.is_ascii_digit()) && luhn(siren)
}

/// The official CPV 2008 list, keyed by the 8 digits without check digit.
#[derive(Debug, Clone, Default)]
pub struct CpvList {
    codes: HashMap<String, (String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CpvError {
    #[error("liste CPV illisible : {0}")]
    Io(#[from] std::io::Error),
}

impl CpvList {
    pub fn load(path: &Path) -> Result<Self, CpvError> {
        Ok(Self::parse(&std::fs::read_to_string(path)?))
    }

    /// Parses `CODE,FR` lines (`03000000-1,"label"`); only the code column matters for lookup.
    pub fn parse(csv: &str) -> Self {
        let mut codes = HashMap::new();
        for line in csv.lines().skip(1) {
            let Some((code, label)) = line.split_once(',') else {
                continue;
            };
            let digits: String = code.chars().take_while(|c| c.is_ascii_digit()).collect();
            if digits.len() == 8 {
                let label = label.trim().trim_matches('"').replace("\"\"", "\"");
                codes.insert(digits, (code.trim().to_string(), label));
            }
        }
        Self { codes }
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The official code (with check digit) and French label of a published code,
    /// repairing a lost leading zero.
    pub fn lookup(&self, published: &str) -> Option<(&str, &str)> {
        let digits: String = published
            .split('-')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect();
        let key = if digits.len() == 7 {
            format!("0{digits}")
        } else {
            digits
        };
        self.codes.get(&key).map(|(c, l)| (c.as_str(), l.as_str()))
    }
}

/// A date's `YYYY-MM-DD` part if it is a real calendar date (suffixes like `+01:00` or
/// `T00:00:00Z` are tolerated).
pub fn parse_date(raw: &str) -> Option<(i32, u32, u32)> {
    let head = raw.get(..10)?;
    let b = head.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i32 = head[..4].parse().ok()?;
    let m: u32 = head[5..7].parse().ok()?;
    let d: u32 = head[8..10].parse().ok()?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (d >= 1 && d <= days).then_some((y, m, d))
}

/// Normalised `YYYY-MM-DD` of a plausible date (DECP starts in 2018; older contracts
/// exist but nothing before 1990 or after 2100 is real).
pub fn clean_date(raw: Option<&str>) -> Option<String> {
    let (y, m, d) = parse_date(raw?)?;
    (1990..=2100)
        .contains(&y)
        .then(|| format!("{y:04}-{m:02}-{d:02}"))
}

fn check_date(out: &mut Vec<Finding>, field: &str, raw: Option<&str>) {
    let Some(raw) = raw else { return };
    match parse_date(raw) {
        None => out.push(Finding::new("date_invalide", field, raw)),
        Some((y, _, _)) if !(1990..=2100).contains(&y) => {
            out.push(Finding::new("date_impossible", field, raw))
        }
        Some(_) if raw.len() > 10 => out.push(Finding::new("date_avec_suffixe", field, raw)),
        Some(_) => {}
    }
}

fn check_party(out: &mut Vec<Finding>, field: &str, party: &Party) {
    if party.had_spaces {
        out.push(Finding::new(
            "identifiant_avec_espaces",
            field,
            party.id.as_str(),
        ));
    }
    if !party.scheme.eq_ignore_ascii_case("SIRET") {
        return;
    }
    let id = &party.id;
    if siret_is_valid(id) {
        return;
    }
    if siren_is_valid(id) {
        out.push(Finding::new("siren_au_lieu_de_siret", field, id.as_str()));
    } else {
        out.push(Finding::new("siret_invalide", field, id.as_str()));
    }
}

fn check_amount(out: &mut Vec<Finding>, field: &str, amount: Option<f64>) {
    match amount {
        None => out.push(Finding::new("montant_absent", field, "")),
        Some(a) if PLACEHOLDER_AMOUNTS.contains(&a) => {
            out.push(Finding::new("montant_fictif", field, format!("{a}")))
        }
        Some(a) if a < 0.0 => out.push(Finding::new("montant_negatif", field, format!("{a}"))),
        Some(_) => {}
    }
}

/// All record-level findings (duplicates are found by the importer, which sees the run).
pub fn check(contract: &Contract, cpv: &CpvList) -> Vec<Finding> {
    let mut out = Vec::new();
    let buyer_field = match contract.kind {
        super::model::ContractKind::Marche => "acheteur.id",
        super::model::ContractKind::Concession => "autoriteConcedante.id",
    };
    check_party(&mut out, buyer_field, &contract.buyer);
    for (i, s) in contract.suppliers.iter().enumerate() {
        check_party(&mut out, format!("titulaires[{i}].id").as_str(), s);
    }
    if contract.suppliers.is_empty() {
        out.push(Finding::new("titulaire_absent", "titulaires", ""));
    }
    match contract.cpv.as_deref() {
        None if contract.kind == super::model::ContractKind::Marche => {
            out.push(Finding::new("cpv_absent", "codeCPV", ""))
        }
        // Without the official list there is nothing to look up against.
        None => {}
        Some(_) if cpv.is_empty() => {}
        Some(code) => match cpv.lookup(code) {
            None => out.push(Finding::new("cpv_inconnu", "codeCPV", code)),
            Some(_) if code.split('-').next().map(str::len) == Some(7) => {
                out.push(Finding::new("cpv_zero_perdu", "codeCPV", code))
            }
            Some(_) => {}
        },
    }
    let amount_field = match contract.kind {
        super::model::ContractKind::Marche => "montant",
        super::model::ContractKind::Concession => "valeurGlobale",
    };
    check_amount(&mut out, amount_field, contract.amount);
    if contract.amount_was_text {
        out.push(Finding::new("montant_en_texte", amount_field, ""));
    }
    let signed = contract
        .date_notification
        .as_deref()
        .or(contract.date_signature.as_deref());
    if signed.is_none() {
        out.push(Finding::new(
            "date_notification_absente",
            "dateNotification",
            "",
        ));
    }
    check_date(
        &mut out,
        "dateNotification",
        contract.date_notification.as_deref(),
    );
    check_date(
        &mut out,
        "dateSignature",
        contract.date_signature.as_deref(),
    );
    check_date(
        &mut out,
        "datePublicationDonnees",
        contract.date_publication.as_deref(),
    );
    check_date(
        &mut out,
        "dateDebutExecution",
        contract.date_start.as_deref(),
    );
    if let (Some(n), Some(p)) = (
        clean_date(contract.date_notification.as_deref()),
        clean_date(contract.date_publication.as_deref()),
    ) && p < n
    {
        out.push(Finding::new(
            "publication_avant_notification",
            "datePublicationDonnees",
            p,
        ));
    }
    if contract
        .object
        .as_deref()
        .is_some_and(|o| o.contains('\u{FFFD}'))
    {
        out.push(Finding::new("texte_mal_encode", "objet", ""));
    }
    for m in &contract.modifications {
        let f = format!("modifications[{}]", m.seq);
        check_date(
            &mut out,
            &format!("{f}.dateNotificationModification"),
            m.date_notification.as_deref(),
        );
        check_date(
            &mut out,
            &format!("{f}.datePublicationDonneesModification"),
            m.date_publication.as_deref(),
        );
        if let Some(a) = m.amount
            && PLACEHOLDER_AMOUNTS.contains(&a)
        {
            out.push(Finding::new(
                "montant_fictif",
                format!("{f}.montant"),
                format!("{a}"),
            ));
        }
        for (i, s) in m.suppliers.iter().enumerate() {
            check_party(&mut out, &format!("{f}.titulaires[{i}].id"), s);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn siret_luhn_and_la_poste_rule() {
        assert!(siret_is_valid("73282932000074")); // Luhn-valid
        assert!(!siret_is_valid("73282932000075"));
        // La Poste establishment: fails Luhn, digit sum 35 is a multiple of 5.
        assert!(siret_is_valid("35600000052135"));
        assert!(!luhn("35600000052135"));
        assert!(!siret_is_valid("35600000052136"));
        assert!(!siret_is_valid("7328293200007"));
        assert!(siren_is_valid("732829320"));
    }

    #[test]
    fn cpv_lookup_repairs_lost_leading_zero() {
        let list =
            CpvList::parse("CODE,FR\n03000000-1,\"Produits agricoles, x\"\n45000000-7,Travaux\n");
        assert_eq!(list.lookup("45000000-7").map(|x| x.0), Some("45000000-7"));
        assert_eq!(list.lookup("45000000").map(|x| x.1), Some("Travaux"));
        assert_eq!(list.lookup("3000000").map(|x| x.0), Some("03000000-1"));
        assert!(list.lookup("12345678").is_none());
    }

    #[test]
    fn dates_with_offsets_pass_and_impossible_ones_fail() {
        assert_eq!(
            clean_date(Some("2019-02-12+01:00")).as_deref(),
            Some("2019-02-12")
        );
        assert_eq!(clean_date(Some("0218-02-12")), None);
        assert_eq!(parse_date("2019-02-30"), None);
        assert_eq!(parse_date("12/02/2019"), None);
    }

    proptest! {
        #[test]
        fn a_changed_digit_breaks_a_luhn_siret(base in 0u64..9_999_999_999_999u64, pos in 0usize..14, delta in 1u8..10) {
            // Build a Luhn-valid SIRET by choosing its check digit.
            let s = (0..10u64)
                .map(|d| format!("{base:013}{d}"))
                .find(|s| luhn(s))
                .unwrap();
            prop_assume!(!s.starts_with(LA_POSTE_SIREN));
            prop_assert!(siret_is_valid(&s));
            let mut b = s.into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(b).unwrap();
            prop_assert!(!siret_is_valid(&changed) || changed.starts_with(LA_POSTE_SIREN));
        }

        #[test]
        fn parse_date_never_panics(s in ".{0,20}") {
            let _ = parse_date(&s);
        }
    }
}
