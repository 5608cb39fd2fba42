//! The coordinators' side of a night after the fact: consolidation of every team document,
//! candidate duplicates, and exports. Pure: documents and time come in, figures go out.

mod consolidate;
mod duplicates;
mod effective;
mod export;
mod labels;
mod progress;

pub use consolidate::{
    AreaLine, Consolidation, ConsolidationInput, Counts, Excluded, Line, Placement,
    QuestionDistribution, TeamSummary, UnreadableTeam, consolidate,
};
pub use duplicates::{Composition, DuplicateCandidate, DuplicateConfig, find_duplicate_candidates};
pub use effective::{
    Anomaly, Area, EffectiveEncounter, EncounterStatus, PartnerAggregate, PlacedBy, TeamInput,
    TeamProblem, UnassignedReason, effective_encounters, team_input,
};
pub use export::{
    EncounterCsvOptions, ExportError, PROGRESS_EVERY, Progress, ROWS_HEADER, encounter_rows,
    geojson_features, questionnaire_rows, round_coordinate, write_encounters_csv,
    write_encounters_geojson, write_questionnaires_csv, write_totals_csv,
};
pub use progress::{
    DEFAULT_SILENT_AFTER_MS, NightProgress, ProgressTeam, ProgressTotals, SectorProgress,
    SectorState, TeamProgress, night_progress,
};
