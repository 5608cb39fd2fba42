//! French labels of the codes, as the city publishes its figures.

use crate::model::{AgeBand, InterviewStatus, Situation, SpaceType};

pub fn space_type(v: SpaceType) -> &'static str {
    match v {
        SpaceType::Street => "Rue",
        SpaceType::SpecificSector => {
            "Secteurs spécifiques (talus, Petite Ceinture, parcs, campements)"
        }
        SpaceType::MetroRer => "Métro / RER",
        SpaceType::Woods => "Bois de Boulogne et de Vincennes",
        SpaceType::SncfStation => "Gares SNCF",
        SpaceType::Hospital => "Hôpitaux AP-HP",
        SpaceType::CarPark => "Parkings",
        SpaceType::SocialHousing => "Bailleurs sociaux",
    }
}

pub fn age_band(v: AgeBand) -> &'static str {
    match v {
        AgeBand::Under18 => "Moins de 18 ans",
        AgeBand::From18To24 => "18 à 24 ans",
        AgeBand::From25To34 => "25 à 34 ans",
        AgeBand::From35To44 => "35 à 44 ans",
        AgeBand::From45To54 => "45 à 54 ans",
        AgeBand::From55To64 => "55 à 64 ans",
        AgeBand::From65 => "65 ans ou plus",
        AgeBand::Unknown => "Âge non renseigné",
    }
}

pub fn situation(v: Situation) -> &'static str {
    match v {
        Situation::Alone => "Seul·e",
        Situation::CoupleWithoutChildren => "Couple sans enfant",
        Situation::FamilyWithChildren => "Famille avec enfants",
        Situation::GroupOfFivePlus => "Groupe de 5 personnes ou plus",
    }
}

pub fn interview(v: InterviewStatus) -> &'static str {
    match v {
        InterviewStatus::Accepted => "Questionnaire accepté",
        InterviewStatus::Refused => "Refus",
        InterviewStatus::Asleep => "Personne endormie",
        InterviewStatus::LanguageBarrier => "Barrière de la langue",
        InterviewStatus::ConditionDoesNotAllow => "État ne le permettant pas",
        InterviewStatus::Other => "Autre",
    }
}
