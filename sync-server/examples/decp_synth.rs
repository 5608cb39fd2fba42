//! Deterministic synthetic DECP generator (2019 JSON format, `{"marches":[…]}`) for the
//! procurement benchmarks.
//!
//! `cargo run --release -p carnet-server --example decp_synth -- --contracts 1000000 \
//!   --out /tmp/decp_1m.json [--seed 2019] [--sources ../shared/data/decp/sources] \
//!   [--cpv ../shared/data/decp/cpv_2008_fr.csv]`
//!
//! Names, objects and places are drawn from the real records in `--sources`; CPV codes from
//! the official list; buyer and supplier identifiers are generated (valid Luhn SIRETs) so
//! that a million contracts spread over realistic numbers of buyers and suppliers. Quirks
//! are injected at about the rates measured in the real files (see shared/data/README.md).
//! Records are written one at a time: memory stays flat whatever `--contracts` is.
//! Same seed + same inputs ⇒ byte-identical output (Xoshiro256++ is a fixed algorithm).
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value, json};

type Rng = Xoshiro256PlusPlus;

struct Args {
    contracts: u64,
    seed: u64,
    out: PathBuf,
    sources: PathBuf,
    cpv: PathBuf,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        contracts: 10_000,
        seed: 2019,
        out: PathBuf::from("decp_synth.json"),
        sources: PathBuf::from("../shared/data/decp/sources"),
        cpv: PathBuf::from("../shared/data/decp/cpv_2008_fr.csv"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--contracts" => args.contracts = value.parse().context("--contracts")?,
            "--seed" => args.seed = value.parse().context("--seed")?,
            "--out" => args.out = value.into(),
            "--sources" => args.sources = value.into(),
            "--cpv" => args.cpv = value.into(),
            other => bail!("unknown option {other}"),
        }
    }
    Ok(args)
}

/// Text pools taken from the real records, so the generated strings have real lengths,
/// accents and (sometimes) the mojibake the real files carry.
#[derive(Default)]
struct Pools {
    buyer_names: Vec<String>,
    supplier_names: Vec<String>,
    objects: Vec<String>,
    places: Vec<Value>,
    cpv: Vec<String>,
}

fn load_pools(sources: &Path, cpv: &Path) -> anyhow::Result<Pools> {
    let mut pools = Pools::default();
    let mut files: Vec<_> = std::fs::read_dir(sources)
        .with_context(|| format!("reading {}", sources.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort(); // read_dir order is not stable; the output must be.
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let doc: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
            .with_context(|| format!("parsing {}", path.display()))?;
        let Some(list) = doc.get("marches").and_then(Value::as_array) else {
            continue;
        };
        for r in list {
            let buyer = r.get("acheteur").or_else(|| r.get("autoriteConcedante"));
            if let Some(n) = buyer.and_then(|b| b.get("nom")).and_then(Value::as_str) {
                pools.buyer_names.push(n.to_string());
            }
            if let Some(o) = r.get("objet").and_then(Value::as_str) {
                pools.objects.push(o.to_string());
            }
            if let Some(p) = r.get("lieuExecution").filter(|p| p.is_object()) {
                pools.places.push(p.clone());
            }
            for t in r
                .get("titulaires")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = t.get("denominationSociale").and_then(Value::as_str) {
                    pools.supplier_names.push(n.to_string());
                }
            }
        }
    }
    for v in [
        &mut pools.buyer_names,
        &mut pools.supplier_names,
        &mut pools.objects,
    ] {
        v.sort();
        v.dedup();
    }
    let csv = std::fs::read_to_string(cpv).with_context(|| format!("reading {}", cpv.display()))?;
    pools.cpv = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter(|c| c.len() == 10)
        .map(str::to_string)
        .collect();
    if pools.buyer_names.is_empty() || pools.supplier_names.is_empty() || pools.cpv.is_empty() {
        bail!("no real records or CPV codes found to build shapes from");
    }
    Ok(pools)
}

fn pick<'a, T>(rng: &mut Rng, v: &'a [T]) -> &'a T {
    &v[rng.random_range(0..v.len())]
}

/// Skewed index in `0..n`: a few buyers/suppliers get most contracts, as in real data.
fn skewed(rng: &mut Rng, n: usize) -> usize {
    let u: f64 = rng.random();
    ((u * u * u) * n as f64) as usize % n.max(1)
}

/// Luhn-valid 14-digit SIRET derived from a pool index (deterministic, distinct per index).
fn siret(index: usize, salt: u64) -> String {
    let body = format!("{:013}", (index as u64 * 7_919 + salt) % 10_000_000_000_000);
    for check in 0..10u32 {
        let candidate = format!("{body}{check}");
        if luhn_ok(&candidate) {
            return candidate;
        }
    }
    format!("{body}0") // unreachable: one of ten check digits always satisfies Luhn
}

fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A SIRET as found in the wild: ~2.7 % invalid (Luhn, length, SIREN instead, spaces).
fn wild_siret(rng: &mut Rng, valid: &str) -> String {
    let roll: f64 = rng.random();
    if roll < 0.008 {
        // Last digit off by one: Luhn fails.
        let last = valid.as_bytes()[13] - b'0';
        format!("{}{}", &valid[..13], (last + 1) % 10)
    } else if roll < 0.013 {
        valid[..9].to_string()
    } else if roll < 0.018 {
        format!("{} {} {}", &valid[..3], &valid[3..9], &valid[9..])
    } else if roll < 0.027 {
        valid[1..].to_string()
    } else {
        valid.to_string()
    }
}

fn mojibake(rng: &mut Rng, s: &str) -> String {
    if rng.random_bool(0.02) {
        s.replacen('e', "\u{fffd}", 1)
    } else {
        s.to_string()
    }
}

const PROCEDURES: [(&str, f64); 9] = [
    ("Procédure adaptée", 0.63),
    ("Appel d'offres ouvert", 0.32),
    (
        "Marché négocié sans publicité ni mise en concurrence préalable",
        0.03,
    ),
    (
        "Procédure négociée avec mise en concurrence préalable",
        0.006,
    ),
    ("Procédure concurrentielle avec négociation", 0.005),
    ("Procédure négociée ouverte", 0.004),
    ("Appel d'offres restreint", 0.003),
    ("Dialogue compétitif", 0.001),
    ("Procédure négociée restreinte", 0.001),
];

fn procedure(rng: &mut Rng) -> &'static str {
    let mut roll: f64 = rng.random();
    for (p, w) in PROCEDURES {
        if roll < w {
            return p;
        }
        roll -= w;
    }
    PROCEDURES[0].0
}

/// Days since 2018-01-01 → `YYYY-MM-DD` (civil calendar, no time crate needed here).
fn date(days: i64) -> String {
    // Howard Hinnant's days_from_civil inverse, from 1970-01-01.
    let z = days + 17_532 + 719_468; // 2018-01-01 is day 17532
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A date field as found in the wild: `+hh:mm` suffixes, impossible years.
fn wild_date(rng: &mut Rng, d: String) -> String {
    let roll: f64 = rng.random();
    if roll < 0.02 {
        format!("{d}+01:00")
    } else if roll < 0.021 {
        format!("0{}", &d[2..])
    } else {
        d
    }
}

fn amount(rng: &mut Rng) -> Value {
    let roll: f64 = rng.random();
    if roll < 0.012 {
        return json!(*pick(rng, &[0, 222_222, 999_999, 999_999_999]));
    }
    // Log-normal around 40 k€ (Box–Muller from two uniforms).
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    let value = (10.6 + 1.7 * z).exp().min(5e8);
    let value = if rng.random_bool(0.5) {
        value.round()
    } else {
        (value * 100.0).round() / 100.0
    };
    if roll < 0.022 {
        json!(format!("{value}"))
    } else {
        json!(value)
    }
}

fn cpv(rng: &mut Rng, pools: &Pools) -> Value {
    let code = pick(rng, &pools.cpv);
    let roll: f64 = rng.random();
    if roll < 0.004 {
        return Value::Null; // dropped below
    }
    if roll < 0.014 {
        return json!("12345678"); // not in the official list
    }
    let digits = &code[..8];
    if roll < 0.10 {
        json!(code) // with check digit
    } else if digits.starts_with('0') && roll < 0.4 {
        json!(digits.trim_start_matches('0')) // lost its leading zero (spreadsheet)
    } else {
        json!(digits)
    }
}

fn party(rng: &mut Rng, pools: &Pools, supplier_pool: usize) -> Value {
    let i = skewed(rng, supplier_pool);
    let name = &pools.supplier_names[i % pools.supplier_names.len()];
    let name = if i >= pools.supplier_names.len() {
        format!("{name} {}", i / pools.supplier_names.len())
    } else {
        name.clone()
    };
    json!({
        "typeIdentifiant": "SIRET",
        "id": wild_siret(rng, &siret(i, 30_000_000_000)),
        "denominationSociale": mojibake(rng, &name),
    })
}

struct Sizes {
    buyers: usize,
    suppliers: usize,
}

fn contract(rng: &mut Rng, pools: &Pools, sizes: &Sizes, n: u64) -> Value {
    let concession = rng.random_bool(0.005);
    let b = skewed(rng, sizes.buyers);
    let buyer_name = &pools.buyer_names[b % pools.buyer_names.len()];
    let buyer_name = if b >= pools.buyer_names.len() {
        format!("{buyer_name} ({})", b / pools.buyer_names.len())
    } else {
        buyer_name.clone()
    };
    let buyer = json!({
        "id": wild_siret(rng, &siret(b, 20_000_000_000)),
        "nom": mojibake(rng, &buyer_name),
    });
    let notified_day = rng.random_range(0..(7 * 365));
    let year = 2018 + notified_day / 365;
    let mut r = Map::new();
    r.insert(
        "id".into(),
        json!(format!("{year}{n:08}{:02}", rng.random_range(0..100))),
    );
    r.insert("source".into(), json!("synthetic"));
    r.insert(
        if concession {
            "autoriteConcedante"
        } else {
            "acheteur"
        }
        .into(),
        buyer,
    );
    r.insert(
        "_type".into(),
        json!(if concession {
            "Contrat de concession"
        } else {
            "Marché"
        }),
    );
    let nature_roll: f64 = rng.random();
    r.insert(
        "nature".into(),
        json!(if concession {
            "Concession de service"
        } else if nature_roll < 0.8 {
            "Marché"
        } else if nature_roll < 0.9 {
            "Marché subséquent"
        } else {
            "Accord-cadre"
        }),
    );
    let object = pick(rng, &pools.objects).clone();
    r.insert("objet".into(), json!(mojibake(rng, &object)));
    let code = cpv(rng, pools);
    if !code.is_null() {
        r.insert("codeCPV".into(), code);
    }
    r.insert("procedure".into(), json!(procedure(rng)));
    if !pools.places.is_empty() {
        r.insert("lieuExecution".into(), pick(rng, &pools.places).clone());
    }
    r.insert("dureeMois".into(), json!(rng.random_range(1..=48)));
    let date_key = if concession {
        "dateSignature"
    } else {
        "dateNotification"
    };
    if !rng.random_bool(0.26) {
        r.insert(date_key.into(), json!(wild_date(rng, date(notified_day))));
    }
    if rng.random_bool(0.6) {
        r.insert(
            "datePublicationDonnees".into(),
            json!(date(notified_day + rng.random_range(0..60))),
        );
    }
    if concession {
        r.insert("dateDebutExecution".into(), json!(date(notified_day + 10)));
        r.insert("valeurGlobale".into(), amount(rng));
        r.insert(
            "montantSubventionPublique".into(),
            json!(rng.random_range(0..100_000)),
        );
    } else if !rng.random_bool(0.005) {
        r.insert("montant".into(), amount(rng));
    }
    if !concession {
        r.insert(
            "formePrix".into(),
            json!(*pick(rng, &["Ferme", "Révisable", "Actualisable"])),
        );
    }
    let holders = match rng.random_range(0..100) {
        0..85 => 1,
        85..95 => 2,
        95..99 => 3,
        _ => 0, // titulaire absent
    };
    let sizes_suppliers = sizes.suppliers;
    let parties: Vec<Value> = (0..holders)
        .map(|_| party(rng, pools, sizes_suppliers))
        .collect();
    r.insert(
        if concession {
            "concessionnaires"
        } else {
            "titulaires"
        }
        .into(),
        json!(parties),
    );
    let modifications: Vec<Value> = if rng.random_bool(0.1) {
        (1..=rng.random_range(1..=3))
            .map(|k| {
                let mut m = Map::new();
                m.insert(
                    "objetModification".into(),
                    json!(*pick(
                        rng,
                        &[
                            "Avenant n°1 : prolongation de délai",
                            "Modification du montant",
                            "Transfert du marché (cession)",
                            "Travaux supplémentaires",
                        ]
                    )),
                );
                let day = notified_day + 30 * k + rng.random_range(0..30);
                m.insert("dateNotificationModification".into(), json!(date(day)));
                m.insert(
                    "datePublicationDonneesModification".into(),
                    json!(date(day + 5)),
                );
                if rng.random_bool(0.7) {
                    m.insert(
                        if concession {
                            "valeurGlobale"
                        } else {
                            "montant"
                        }
                        .into(),
                        amount(rng),
                    );
                }
                if rng.random_bool(0.3) {
                    m.insert("dureeMois".into(), json!(rng.random_range(1..=60)));
                }
                if rng.random_bool(0.05) {
                    m.insert(
                        "titulaires".into(),
                        json!([party(rng, pools, sizes_suppliers)]),
                    );
                }
                m.insert("id".into(), json!(k));
                Value::Object(m)
            })
            .collect()
    } else {
        Vec::new()
    };
    r.insert("modifications".into(), json!(modifications));
    Value::Object(r)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let pools = load_pools(&args.sources, &args.cpv)?;
    let mut rng = Rng::seed_from_u64(args.seed);
    let n = args.contracts as usize;
    let sizes = Sizes {
        buyers: (n / 20).clamp(100, 60_000),
        suppliers: (n / 4).clamp(300, 300_000),
    };
    let file =
        File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(b"{\n  \"marches\": [\n")?;
    // Recent records, to re-emit exact duplicates (~1.7 %) and same-key revisions (~4 %).
    let mut recent: VecDeque<Value> = VecDeque::with_capacity(256);
    for i in 0..args.contracts {
        let roll: f64 = rng.random();
        let record = if roll < 0.017 && !recent.is_empty() {
            pick_recent(&mut rng, &recent).clone()
        } else if roll < 0.057 && !recent.is_empty() {
            let mut revised = pick_recent(&mut rng, &recent).clone();
            if let Some(obj) = revised.as_object_mut() {
                obj.insert("montant".into(), amount(&mut rng));
                obj.insert("dureeMois".into(), json!(rng.random_range(1..=48)));
            }
            revised
        } else {
            contract(&mut rng, &pools, &sizes, i)
        };
        if i > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer_pretty(&mut out, &record)?;
        if recent.len() == 256 {
            recent.pop_front();
        }
        recent.push_back(record);
    }
    out.write_all(b"\n  ]\n}\n")?;
    out.flush()?;
    eprintln!(
        "{} contracts written to {} (seed {}, {} buyers, {} suppliers)",
        args.contracts,
        args.out.display(),
        args.seed,
        sizes.buyers,
        sizes.suppliers
    );
    Ok(())
}

fn pick_recent<'a>(rng: &mut Rng, recent: &'a VecDeque<Value>) -> &'a Value {
    &recent[rng.random_range(0..recent.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sirets_pass_luhn() {
        for i in [0, 1, 17, 59_999, 299_999] {
            assert!(luhn_ok(&siret(i, 20_000_000_000)), "index {i}");
        }
    }

    #[test]
    fn date_counts_days_from_2018() {
        assert_eq!(date(0), "2018-01-01");
        assert_eq!(date(59), "2018-03-01");
        assert_eq!(date(365 + 365 + 59), "2020-02-29");
    }
}
