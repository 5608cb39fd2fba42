//! Closed vocabularies of the street-count methodology (DESIGN §9).
//!
//! Every enum has one stable code, used identically in JSON (serde), in Automerge documents
//! (scalar strings) and in tally keys, so that the three never drift apart.

/// Declares a closed enum with one stable camelCase code per variant, and implements
/// `code`, `from_code`, `ALL`, `Display` and serde (as the code string) from that single table.
macro_rules! code_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable code (JSON, Automerge and tally keys).
            pub const fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let code = String::deserialize(d)?;
                // The offending value is left out of the message on purpose (no data in errors).
                Self::from_code(&code).ok_or_else(|| {
                    serde::de::Error::custom(concat!("unknown ", stringify!($name), " code"))
                })
            }
        }
    };
}

code_enum! {
    /// The eight types of space counted in Paris.
    pub enum SpaceType {
        Street = "street",
        /// Ring-road embankments, Petite Ceinture, parks and gardens, encampments.
        SpecificSector = "specificSector",
        MetroRer = "metroRer",
        /// Bois de Boulogne and Bois de Vincennes.
        Woods = "woods",
        SncfStation = "sncfStation",
        /// AP-HP hospitals.
        Hospital = "hospital",
        CarPark = "carPark",
        /// Social landlords' buildings.
        SocialHousing = "socialHousing",
    }
}

code_enum! {
    /// What the person sleeps in or under.
    pub enum Installation {
        None = "none",
        Tent = "tent",
        MakeshiftCabinOrVehicle = "makeshiftCabinOrVehicle",
        Other = "other",
    }
}

code_enum! {
    /// Household situation of the people met together.
    pub enum Situation {
        Alone = "alone",
        CoupleWithoutChildren = "coupleWithoutChildren",
        FamilyWithChildren = "familyWithChildren",
        GroupOfFivePlus = "groupOfFivePlus",
    }
}

code_enum! {
    /// Outcome of proposing the questionnaire.
    pub enum InterviewStatus {
        Accepted = "accepted",
        Refused = "refused",
        /// Never wake anyone: asleep is an outcome, not a retry.
        Asleep = "asleep",
        LanguageBarrier = "languageBarrier",
        ConditionDoesNotAllow = "conditionDoesNotAllow",
        Other = "other",
    }
}

code_enum! {
    /// Sex as observed by the team when the person was not interviewed.
    pub enum ObservedSex {
        Male = "male",
        Female = "female",
        Unknown = "unknown",
    }
}

code_enum! {
    /// Age band (observed or declared); `Unknown` when the team cannot tell.
    pub enum AgeBand {
        Under18 = "under18",
        From18To24 = "from18To24",
        From25To34 = "from25To34",
        From35To44 = "from35To44",
        From45To54 = "from45To54",
        From55To64 = "from55To64",
        From65 = "from65",
        Unknown = "unknown",
    }
}

code_enum! {
    /// Coverage of an assigned sector. `CoveredNoneFound` is data ("covered, 0 found"),
    /// distinct from a sector nobody reported on.
    pub enum CoverageStatus {
        InProgress = "inProgress",
        Covered = "covered",
        CoveredNoneFound = "coveredNoneFound",
        NotAccessible = "notAccessible",
    }
}

code_enum! {
    /// A coordinator's verdict on a suspected duplicate pair of encounters.
    pub enum DuplicateVerdict {
        Confirmed = "confirmed",
        Rejected = "rejected",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn codes_round_trip<T>(all: &[T], code: fn(T) -> &'static str, from: fn(&str) -> Option<T>)
    where
        T: Copy + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut seen = std::collections::BTreeSet::new();
        for v in all {
            assert!(seen.insert(code(*v)), "duplicate code {}", code(*v));
            assert_eq!(from(code(*v)), Some(*v));
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", code(*v)));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
        }
    }

    #[test]
    fn every_code_is_unique_and_round_trips() {
        codes_round_trip(SpaceType::ALL, SpaceType::code, SpaceType::from_code);
        codes_round_trip(
            Installation::ALL,
            Installation::code,
            Installation::from_code,
        );
        codes_round_trip(Situation::ALL, Situation::code, Situation::from_code);
        codes_round_trip(
            InterviewStatus::ALL,
            InterviewStatus::code,
            InterviewStatus::from_code,
        );
        codes_round_trip(ObservedSex::ALL, ObservedSex::code, ObservedSex::from_code);
        codes_round_trip(AgeBand::ALL, AgeBand::code, AgeBand::from_code);
        codes_round_trip(
            CoverageStatus::ALL,
            CoverageStatus::code,
            CoverageStatus::from_code,
        );
        codes_round_trip(
            DuplicateVerdict::ALL,
            DuplicateVerdict::code,
            DuplicateVerdict::from_code,
        );
        assert_eq!(SpaceType::ALL.len(), 8);
    }

    #[test]
    fn unknown_code_is_rejected_without_echoing_it() {
        let err = serde_json::from_str::<SpaceType>("\"secret-value\"").unwrap_err();
        assert!(!err.to_string().contains("secret-value"));
    }
}
