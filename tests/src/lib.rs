//! Helpers shared by Carnet's end-to-end tests: starting a real server on port 0 with a real
//! SQLite file, setting up a night through the admin API, simulated devices driving the
//! client-role sync engine over a real WebSocket, and the JS automerge-repo peers.
#![forbid(unsafe_code)]

pub mod bomb;
pub mod device;
pub mod disk;
pub mod http;
pub mod js;
pub mod night;
pub mod qr;
pub mod server;

pub use device::{Device, DeviceError};
pub use server::{ADMIN_TOKEN, Enrolled, NightSetup, TeamSetup, TestServer};

use std::time::Duration;

/// Guards against a hung test; not a performance threshold.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// An encounter as a device records it (model types), `n`-th of `device`.
pub fn encounter(device: &str, n: u32, recorded_at: i64) -> carnet_shared::model::Encounter {
    use carnet_shared::model::{
        AgeBand, Alerts, Encounter, Installation, InterviewStatus, ObservedSex, PeopleCounts,
        Situation, SpaceType,
    };
    Encounter {
        id: uuid::Uuid::now_v7(),
        recorded_at,
        space_type: SpaceType::Street,
        place_detail: format!("rue {n}"),
        installation: Installation::Tent,
        situation: Situation::Alone,
        counts: PeopleCounts {
            men: 1,
            ..Default::default()
        },
        interview: InterviewStatus::Asleep,
        observed_sex: Some(ObservedSex::Male),
        age_band: Some(AgeBand::From35To44),
        alerts: Alerts::default(),
        position: None,
        distinctive_signs: None,
        questionnaire_version: None,
        answers: Default::default(),
        source_device: device.to_owned(),
        withdrawn: false,
    }
}
