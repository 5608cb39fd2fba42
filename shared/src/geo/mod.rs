//! Sectors on the map: import of the coordinators' sector map (GeoJSON) and location of a
//! position in a sector (point in polygon). Pure: no I/O, no clock.
//!
//! Geometries use GeoJSON's order of coordinates, `[longitude, latitude]` (WGS 84), and are
//! stored in the night document as GeoJSON text (`Sector::geojson`).

mod import;
mod index;

/// GeoJSON rings to a `geo` polygon (the climate places' centroids use it too).
pub(crate) use import::to_geo_polygon;
pub use import::{
    FeatureIssue, FeatureProblem, RingRef, SectorImport, Severity, import_sectors,
    parse_arrondissement,
};
pub use index::{GeometryError, SectorIndex, parse_sector_geometry};

/// Arrondissements 1 to 4 are published together as "Paris Centre" since 2020.
pub fn is_paris_centre(arrondissement: u8) -> bool {
    (1..=4).contains(&arrondissement)
}
