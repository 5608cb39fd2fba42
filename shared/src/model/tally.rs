//! Tallies of people seen but not interviewed, by dimension.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::codes::{AgeBand, ObservedSex, SpaceType};

/// One tally dimension: (type of space, observed sex, age band).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TallyDimension {
    pub space_type: SpaceType,
    pub sex: ObservedSex,
    pub age_band: AgeBand,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a tally key (spaceType:sex:ageBand)")]
pub struct TallyKeyError;

impl TallyDimension {
    /// The stable key, `spaceType:sex:ageBand` with the enums' codes (e.g.
    /// `metroRer:female:from25To34`). Used as the Automerge key and as the JSON map key.
    pub fn key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.space_type.code(),
            self.sex.code(),
            self.age_band.code()
        )
    }

    pub fn parse_key(key: &str) -> Result<Self, TallyKeyError> {
        let mut parts = key.split(':');
        let (Some(s), Some(x), Some(a), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TallyKeyError);
        };
        Ok(Self {
            space_type: SpaceType::from_code(s).ok_or(TallyKeyError)?,
            sex: ObservedSex::from_code(x).ok_or(TallyKeyError)?,
            age_band: AgeBand::from_code(a).ok_or(TallyKeyError)?,
        })
    }

    /// Every dimension (8 × 3 × 8 = 192), grouped by type of space.
    pub fn all() -> impl Iterator<Item = TallyDimension> {
        SpaceType::ALL
            .iter()
            .flat_map(|&space_type| Self::all_for(space_type))
    }

    /// Every dimension of one type of space.
    pub fn all_for(space_type: SpaceType) -> impl Iterator<Item = TallyDimension> {
        ObservedSex::ALL.iter().flat_map(move |&sex| {
            AgeBand::ALL.iter().map(move |&age_band| TallyDimension {
                space_type,
                sex,
                age_band,
            })
        })
    }
}

impl fmt::Display for TallyDimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

impl FromStr for TallyDimension {
    type Err = TallyKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_key(s)
    }
}

impl Serialize for TallyDimension {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

impl<'de> Deserialize<'de> for TallyDimension {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        Self::parse_key(&key).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn all_dimensions_have_distinct_keys() {
        let keys: std::collections::BTreeSet<String> =
            TallyDimension::all().map(|d| d.key()).collect();
        assert_eq!(keys.len(), 8 * 3 * 8);
        assert!(keys.contains("metroRer:female:from25To34"));
    }

    #[test]
    fn malformed_keys_are_rejected() {
        for bad in [
            "",
            "street",
            "street:male",
            "street:male:from65:x",
            "street:male:old",
            "x:male:from65",
        ] {
            assert_eq!(TallyDimension::parse_key(bad), Err(TallyKeyError), "{bad}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn tally_key_round_trips(i in 0usize..192) {
            let d = TallyDimension::all().nth(i).unwrap();
            prop_assert_eq!(TallyDimension::parse_key(&d.key()), Ok(d));
            let json = serde_json::to_string(&d).unwrap();
            prop_assert_eq!(serde_json::from_str::<TallyDimension>(&json).unwrap(), d);
        }

        #[test]
        fn tally_key_parser_never_panics(s in ".{0,40}") {
            let _ = TallyDimension::parse_key(&s);
        }
    }
}
