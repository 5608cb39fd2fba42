import { describe, expect, it } from 'vitest';
import { DEMO_SECTOR_GEOJSON } from './devBackend';
import { coarse, fitProjection, ringPath, sectorRings } from './geo';

describe('sector outline', () => {
  it('reads Polygon, MultiPolygon and Feature geometries', () => {
    expect(sectorRings(DEMO_SECTOR_GEOJSON)).toHaveLength(1);
    const ring = [[2, 48], [2.1, 48], [2.1, 48.1], [2, 48]];
    expect(sectorRings(JSON.stringify({ type: 'MultiPolygon', coordinates: [[ring], [ring]] }))).toHaveLength(2);
    expect(sectorRings(JSON.stringify({ type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring] } }))).toHaveLength(1);
  });

  it.each(['', 'nope', '{}', '{"type":"Point","coordinates":[2,48]}', '{"type":"Polygon","coordinates":[[["a","b"]]]}'])(
    'returns null for %j',
    (g) => expect(sectorRings(g)).toBeNull(),
  );

  it('projects inside the box and inverts back to the same position', () => {
    const rings = sectorRings(DEMO_SECTOR_GEOJSON)!;
    const proj = fitProjection(rings, 320, 220);
    for (const [lon, lat] of rings[0]) {
      const [x, y] = proj.toXY({ lat, lon });
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(320);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(220);
      const back = proj.toPosition(x, y);
      expect(back.lat).toBeCloseTo(lat, 9);
      expect(back.lon).toBeCloseTo(lon, 9);
    }
    // North is up.
    expect(proj.toXY({ lat: 48.865, lon: 2.345 })[1]).toBeLessThan(proj.toXY({ lat: 48.859, lon: 2.345 })[1]);
    expect(ringPath(rings[0], proj)).toMatch(/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+Z$/);
  });

  it('keeps tapped positions coarse (4 decimals)', () => {
    expect(coarse({ lat: 48.861234, lon: 2.347891 })).toEqual({ lat: 48.8612, lon: 2.3479 });
  });
});
