//! French number formatting for the views (thousands separated by a narrow no-break
//! space, decimal comma), shared by the HTML tables and the SVG labels.

const NNBSP: char = '\u{202f}';

/// `1234567` → "1 234 567".
pub fn int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(NNBSP);
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// [`int`] of a rounded float (for chart axes).
pub fn int_f(v: f64) -> String {
    int(v.round() as i64)
}

/// Euros rounded to the unit: "1 234 567 €".
pub fn eur(a: f64) -> String {
    if !a.is_finite() {
        return "–".to_string();
    }
    format!("{}\u{a0}€", int(a.round() as i64))
}

/// Short form for chart labels: "950 €", "40 k€", "1,2 M€", "3,4 Md€".
pub fn eur_short(a: f64) -> String {
    let (v, unit) = if a.abs() >= 1e9 {
        (a / 1e9, "Md€")
    } else if a.abs() >= 1e6 {
        (a / 1e6, "M€")
    } else if a.abs() >= 1e3 {
        (a / 1e3, "k€")
    } else {
        (a, "€")
    };
    let s = if v.abs() >= 100.0 || v.fract().abs() < 0.05 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}").replace('.', ",")
    };
    format!("{s}\u{a0}{unit}")
}

/// A share in [0, 1] as "12,3 %".
pub fn percent(share: f64) -> String {
    if !share.is_finite() {
        return "–".to_string();
    }
    format!("{:.1}\u{a0}%", share * 100.0).replace('.', ",")
}

/// A plain decimal with one digit: "1,5".
pub fn decimal(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    format!("{v:.1}").replace('.', ",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn thousands_and_decimal_comma() {
        assert_eq!(int(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(int(-1000), "-1\u{202f}000");
        assert_eq!(int(999), "999");
        assert_eq!(eur(40_000.4), "40\u{202f}000\u{a0}€");
        assert_eq!(eur_short(1_250_000.0), "1,2\u{a0}M€");
        assert_eq!(eur_short(40_000.0), "40\u{a0}k€");
        assert_eq!(percent(0.1234), "12,3\u{a0}%");
    }
}
