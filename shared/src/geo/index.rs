//! Locating a position in the night's sectors (point in polygon, with a bounding-box filter).

use std::collections::BTreeMap;

use ::geo::{BoundingRect, Contains, MultiPolygon, Point, Rect};
use geojson::GeometryValue;

use super::import::to_geo_polygon;
use crate::model::{Position, Sector, SectorId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("sector geometry is not GeoJSON")]
    NotGeoJson,
    #[error("sector geometry is not a Polygon or MultiPolygon")]
    NotPolygonal,
}

/// Parses a sector's stored geometry (GeoJSON Polygon or MultiPolygon text).
pub fn parse_sector_geometry(text: &str) -> Result<MultiPolygon<f64>, GeometryError> {
    let value: GeometryValue = serde_json::from_str(text).map_err(|_| GeometryError::NotGeoJson)?;
    match value {
        GeometryValue::Polygon { coordinates } => {
            Ok(MultiPolygon(vec![to_geo_polygon(&coordinates)]))
        }
        GeometryValue::MultiPolygon { coordinates } => Ok(MultiPolygon(
            coordinates.iter().map(|p| to_geo_polygon(p)).collect(),
        )),
        _ => Err(GeometryError::NotPolygonal),
    }
}

struct Indexed {
    id: SectorId,
    arrondissement: Option<u8>,
    bbox: Rect<f64>,
    shape: MultiPolygon<f64>,
}

/// The night's sectors, ready for point-in-polygon queries.
pub struct SectorIndex {
    sectors: Vec<Indexed>,
    /// Sectors whose stored geometry could not be read (reported, never silently ignored).
    unreadable: Vec<(SectorId, GeometryError)>,
}

impl SectorIndex {
    pub fn new(sectors: &BTreeMap<SectorId, Sector>) -> Self {
        let mut indexed = Vec::new();
        let mut unreadable = Vec::new();
        for (id, sector) in sectors {
            match parse_sector_geometry(&sector.geojson) {
                Ok(shape) => match shape.bounding_rect() {
                    Some(bbox) => indexed.push(Indexed {
                        id: id.clone(),
                        arrondissement: sector.arrondissement,
                        bbox,
                        shape,
                    }),
                    None => unreadable.push((id.clone(), GeometryError::NotPolygonal)),
                },
                Err(e) => unreadable.push((id.clone(), e)),
            }
        }
        Self {
            sectors: indexed,
            unreadable,
        }
    }

    pub fn unreadable(&self) -> &[(SectorId, GeometryError)] {
        &self.unreadable
    }

    /// The sector containing `position` (the first in id order if sectors overlap), with its
    /// arrondissement. Points on a border count as inside, on both sides' first in id order.
    pub fn locate(&self, position: Position) -> Option<(&SectorId, Option<u8>)> {
        if !(position.lat.is_finite() && position.lon.is_finite()) {
            return None;
        }
        let point = Point::new(position.lon, position.lat);
        self.sectors
            .iter()
            .filter(|s| {
                let (min, max) = (s.bbox.min(), s.bbox.max());
                point.x() >= min.x && point.x() <= max.x && point.y() >= min.y && point.y() <= max.y
            })
            .find(|s| s.shape.contains(&point) || ::geo::Intersects::intersects(&s.shape, &point))
            .map(|s| (&s.id, s.arrondissement))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn sector(geojson: &str, arrondissement: Option<u8>) -> Sector {
        Sector {
            name: "s".into(),
            arrondissement,
            geojson: geojson.into(),
        }
    }

    #[test]
    fn point_in_a_hole_is_outside_the_sector() {
        // A 2 km square around Châtelet with a hole in the middle.
        let square = r#"{"type":"Polygon","coordinates":[
            [[2.33,48.85],[2.36,48.85],[2.36,48.87],[2.33,48.87],[2.33,48.85]],
            [[2.34,48.855],[2.35,48.855],[2.35,48.865],[2.34,48.865],[2.34,48.855]]]}"#;
        let mut sectors = BTreeMap::new();
        sectors.insert(SectorId("A".into()), sector(square, Some(1)));
        let index = SectorIndex::new(&sectors);
        assert!(index.unreadable().is_empty());
        let inside = index.locate(Position {
            lat: 48.852,
            lon: 2.335,
        });
        assert_eq!(inside, Some((&SectorId("A".into()), Some(1))));
        let in_hole = index.locate(Position {
            lat: 48.86,
            lon: 2.345,
        });
        assert_eq!(in_hole, None);
        assert_eq!(index.locate(Position { lat: 0.0, lon: 0.0 }), None);
    }

    #[test]
    fn unreadable_geometry_is_reported() {
        let mut sectors = BTreeMap::new();
        sectors.insert(SectorId("B".into()), sector("{}", None));
        sectors.insert(
            SectorId("C".into()),
            sector(r#"{"type":"Point","coordinates":[2.3,48.8]}"#, None),
        );
        let index = SectorIndex::new(&sectors);
        assert_eq!(
            index.unreadable(),
            &[
                (SectorId("B".into()), GeometryError::NotGeoJson),
                (SectorId("C".into()), GeometryError::NotPolygonal)
            ]
        );
    }
}
