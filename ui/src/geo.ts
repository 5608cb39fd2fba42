// A sector's GeoJSON outline drawn as SVG: a local equirectangular projection (longitudes scaled
// by cos(latitude), plenty at the scale of a Paris sector) fitted into a fixed view box, and its
// inverse for placing an encounter by tapping the map.
import type { Position } from './model';

export type Ring = [number, number][];

/** The outer and inner rings of a Polygon/MultiPolygon (or a Feature holding one); `null` otherwise. */
export function sectorRings(geojson: string): Ring[] | null {
  let g: unknown;
  try {
    g = JSON.parse(geojson);
  } catch {
    return null;
  }
  if (g && typeof g === 'object' && (g as { type?: unknown }).type === 'Feature') g = (g as { geometry?: unknown }).geometry;
  if (!g || typeof g !== 'object') return null;
  const { type, coordinates } = g as { type?: unknown; coordinates?: unknown };
  const polygons: unknown[] =
    type === 'Polygon' ? [coordinates] : type === 'MultiPolygon' && Array.isArray(coordinates) ? coordinates : [];
  const rings: Ring[] = [];
  for (const poly of polygons) {
    if (!Array.isArray(poly)) return null;
    for (const ring of poly) {
      if (!Array.isArray(ring)) return null;
      const r: Ring = [];
      for (const pt of ring) {
        if (!Array.isArray(pt) || typeof pt[0] !== 'number' || typeof pt[1] !== 'number') return null;
        if (!Number.isFinite(pt[0]) || !Number.isFinite(pt[1])) return null;
        r.push([pt[0], pt[1]]);
      }
      if (r.length >= 3) rings.push(r);
    }
  }
  return rings.length ? rings : null;
}

export interface Projection {
  width: number;
  height: number;
  toXY(p: Position): [number, number];
  toPosition(x: number, y: number): Position;
}

/** Fits the rings into `width` × `height` with `pad` units of margin, keeping proportions. */
export function fitProjection(rings: Ring[], width: number, height: number, pad = 12): Projection {
  let minLon = Infinity,
    maxLon = -Infinity,
    minLat = Infinity,
    maxLat = -Infinity;
  for (const r of rings)
    for (const [lon, lat] of r) {
      minLon = Math.min(minLon, lon);
      maxLon = Math.max(maxLon, lon);
      minLat = Math.min(minLat, lat);
      maxLat = Math.max(maxLat, lat);
    }
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const spanX = Math.max((maxLon - minLon) * k, 1e-9);
  const spanY = Math.max(maxLat - minLat, 1e-9);
  const scale = Math.min((width - 2 * pad) / spanX, (height - 2 * pad) / spanY);
  // Centre the drawing in the box.
  const offX = (width - spanX * scale) / 2;
  const offY = (height - spanY * scale) / 2;
  return {
    width,
    height,
    toXY: (p) => [offX + (p.lon - minLon) * k * scale, offY + (maxLat - p.lat) * scale],
    toPosition: (x, y) => ({ lon: minLon + (x - offX) / (k * scale), lat: maxLat - (y - offY) / scale }),
  };
}

export function ringPath(ring: Ring, proj: Projection): string {
  return (
    ring
      .map(([lon, lat], i) => {
        const [x, y] = proj.toXY({ lat, lon });
        return `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join('') + 'Z'
  );
}

/** Rounds a tapped position to ~10 m: a coarse position is all the count needs (DESIGN §8). */
export function coarse(p: Position): Position {
  return { lat: Math.round(p.lat * 10_000) / 10_000, lon: Math.round(p.lon * 10_000) / 10_000 };
}
