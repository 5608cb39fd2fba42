//! The climate volunteer's side of `Device`: the `kit` document (read-only: the heat-wave kit,
//! the alert level, the places) and the group's `field` document (visits and their checklist
//! ticks), read and written with `carnet_shared::climate` through the sync client. A write is
//! on disk before the method returns, online or not, like the team's.

use automerge::transaction::Transaction;
use serde::Serialize;
use uuid::Uuid;

use carnet_shared::climate::{
    self, Area, Field, Handout, KitDocument, MAX_HANDOUT_STEP, Nearby, PlaceKind, Position, Visit,
};
use carnet_shared::doc::{self, DocError};
use carnet_shared::ids::DocumentId;
use carnet_shared::model::Millis;

use super::{Device, DeviceError, Enrolment, EnrolmentKind};

/// Commit messages of the app's writes to a field document.
pub mod messages {
    pub const RECORD_VISIT: &str = "record visit";
    pub const TICK: &str = "tick";
    pub const HAND_OUT: &str = "hand out";
}

/// At most this many places per nearest-places answer.
pub const MAX_NEAREST: u32 = 50;

/// What the climate screens know about the volunteer (`VolunteerState` in
/// `ui/src/climate/model.ts`; snake_case like the rest of the climate types).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolunteerState {
    pub device_id: String,
    pub server_url: String,
    pub group_name: String,
    /// The group's field document: every visit of the group, from every device.
    pub field: Field,
}

impl Device {
    fn volunteer_session(&self) -> Result<&Enrolment, DeviceError> {
        let (e, _) = self.session()?;
        match e.kind {
            EnrolmentKind::Volunteer => Ok(e),
            EnrolmentKind::Team => Err(DeviceError::NotEnrolled),
        }
    }

    /// `None` unless the device is enrolled as a volunteer and holds its group's field
    /// document.
    pub async fn volunteer_state(&self) -> Result<Option<VolunteerState>, DeviceError> {
        let Ok(e) = self.volunteer_session() else {
            return Ok(None);
        };
        let Some(field) = self.read_doc(e.own_doc, climate::read_field).await? else {
            return Ok(None);
        };
        Ok(Some(VolunteerState {
            device_id: self.device_id.clone(),
            server_url: e.server_url.clone(),
            group_name: e.name.clone(),
            field,
        }))
    }

    /// The kit document as this device holds it; `None` before it first arrived.
    pub async fn climate_kit(&self) -> Result<Option<KitDocument>, DeviceError> {
        let e = self.volunteer_session()?;
        self.read_doc(e.shared_doc, climate::read_kit_doc).await
    }

    /// The `n` places of the kit document nearest to (`lat`, `lon`), of `kind` if given;
    /// none while the kit has not arrived. Offline: the places are on the device.
    pub async fn nearest_places(
        &self,
        lat: f64,
        lon: f64,
        n: u32,
        kind: Option<PlaceKind>,
    ) -> Result<Vec<Nearby>, DeviceError> {
        if !(lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0) {
            return Err(DeviceError::InvalidInput("position out of range"));
        }
        if !(1..=MAX_NEAREST).contains(&n) {
            return Err(DeviceError::InvalidInput("number of places out of range"));
        }
        let Some(kit) = self.climate_kit().await? else {
            return Ok(Vec::new());
        };
        let count = usize::try_from(n).map_err(|_| DeviceError::Internal("count"))?;
        Ok(climate::nearest(
            &kit.places,
            Position { lat, lon },
            count,
            kind,
        ))
    }

    async fn read_field(&self) -> Result<Field, DeviceError> {
        let e = self.volunteer_session()?;
        self.read_doc(e.own_doc, climate::read_field)
            .await?
            .ok_or(DeviceError::DocumentsMissing)
    }

    /// The ids of the kit's checklist `checklist_id`; refused if the kit has no such list.
    async fn checklist_items(&self, checklist_id: &str) -> Result<Vec<String>, DeviceError> {
        let kit = self
            .climate_kit()
            .await?
            .and_then(|k| k.kit)
            .ok_or(DeviceError::NotFound("kit"))?;
        let list = kit
            .checklist(checklist_id)
            .ok_or(DeviceError::NotFound("checklist"))?;
        Ok(list.items.iter().map(|i| i.id.clone()).collect())
    }

    /// Runs `carnet_shared::climate` writers on the group's field document as one change;
    /// durable before returning. A writer's error rolls it back.
    async fn change_field<R: Send>(
        &self,
        message: &'static str,
        now: Millis,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, DocError> + Send,
    ) -> Result<R, DeviceError> {
        let e = self.volunteer_session()?;
        let doc: DocumentId = e.own_doc;
        let (_, client) = self.session()?;
        let changed = client
            .change_with(doc, doc::commit_options(message, now), f)
            .await??;
        Ok(changed.value)
    }

    /// Starts a visit in `area` (an arrondissement, nothing finer) with the kit's checklist
    /// `checklist_id`, nothing ticked yet. `id` is a UUID v7 made by the caller; starting the
    /// same id twice (a double tap) returns the visit already there.
    pub async fn start_visit(
        &self,
        id: Uuid,
        area: &str,
        checklist_id: &str,
        now: Millis,
    ) -> Result<Visit, DeviceError> {
        let area =
            Area::parse(area).map_err(|_| DeviceError::InvalidInput("not an arrondissement"))?;
        self.checklist_items(checklist_id).await?;
        self.read_field().await?;
        let visit = Visit {
            id,
            at: now,
            area,
            checklist_id: checklist_id.to_owned(),
            ticks: Default::default(),
            items: Default::default(),
            alert: false,
        };
        // The check and the write are one transaction: two taps cannot both write.
        self.change_field(
            messages::RECORD_VISIT,
            now,
            move |tx| match climate::read_field(&*tx)?.visits.remove(&visit.id) {
                Some(existing) => Ok(existing),
                None => {
                    climate::record_visit(tx, &visit)?;
                    Ok(visit)
                }
            },
        )
        .await
    }

    /// Ticks (or unticks) `item` of a visit's checklist; returns the visit as it now reads
    /// (with what other devices ticked). The item must be one of the kit's list.
    pub async fn tick(
        &self,
        visit_id: Uuid,
        item: &str,
        checked: bool,
        now: Millis,
    ) -> Result<Visit, DeviceError> {
        let field = self.read_field().await?;
        let visit = field
            .visits
            .get(&visit_id)
            .ok_or(DeviceError::NotFound("visit"))?;
        let items = self.checklist_items(&visit.checklist_id).await?;
        if !items.iter().any(|i| i == item) {
            return Err(DeviceError::NotFound("checklist item"));
        }
        let item = item.to_owned();
        self.change_field(messages::TICK, now, move |tx| {
            climate::tick(tx, visit_id, &item, checked)?;
            climate::read_field(&*tx)?
                .visits
                .remove(&visit_id)
                .ok_or(DocError::Invalid("no such visit"))
        })
        .await
    }

    /// Hands out `delta` items of `kind` (`eau`, `eventail`…) on a visit, negative to correct a
    /// tap; the visit's counter and the group's total move together (Automerge counters: taps
    /// on two devices add up). Returns the group's field document as it now reads. Offline
    /// like every write: on disk before returning.
    pub async fn hand_out(
        &self,
        visit_id: Uuid,
        kind: &str,
        delta: i64,
        now: Millis,
    ) -> Result<Field, DeviceError> {
        let kind =
            Handout::from_code(kind).ok_or(DeviceError::InvalidInput("unknown kind of item"))?;
        if delta == 0 || delta.unsigned_abs() > MAX_HANDOUT_STEP.unsigned_abs() {
            return Err(DeviceError::InvalidInput("step out of range"));
        }
        let field = self.read_field().await?;
        let visit = field
            .visits
            .get(&visit_id)
            .ok_or(DeviceError::NotFound("visit"))?;
        let held = i64::from(visit.items.get(&kind).copied().unwrap_or(0));
        if held + delta < 0 {
            return Err(DeviceError::InvalidInput("nothing to take back"));
        }
        self.change_field(messages::HAND_OUT, now, move |tx| {
            climate::hand_out_on_visit(tx, visit_id, kind, delta)?;
            climate::read_field(&*tx)
        })
        .await
    }
}
