// What the climate screens need from the app. Each method is one Tauri command (name in
// `CLIMATE_COMMANDS`); the Rust side reads the `kit` and `field` documents with
// `carnet_shared::climate` (nearest places: `climate::nearest`, offline).
import type { KitDocument, Nearby, PlaceKind } from './model';

export interface ClimateBackend {
  /** climate_get_kit: the kit document held on the device (null before the first sync). */
  getKit(): Promise<KitDocument | null>;
  /** climate_nearest_places: the `n` nearest places, of `kind` if given. */
  nearestPlaces(lat: number, lon: number, n: number, kind: PlaceKind | null): Promise<Nearby[]>;
  /** climate_tick: ticks (or unticks) an item of a visit's checklist in the field document. */
  tick(visitId: string, itemId: string, checked: boolean): Promise<void>;
}

export const CLIMATE_COMMANDS = {
  getKit: 'climate_get_kit',
  nearestPlaces: 'climate_nearest_places',
  tick: 'climate_tick',
} as const;

/** The Tauri implementation over an `invoke`-like function (platform.ts owns the real one). */
export function climateBackend(
  invoke: <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>,
): ClimateBackend {
  return {
    getKit: () => invoke(CLIMATE_COMMANDS.getKit),
    nearestPlaces: (lat, lon, n, kind) => invoke(CLIMATE_COMMANDS.nearestPlaces, { lat, lon, n, kind }),
    tick: (visitId, itemId, checked) => invoke(CLIMATE_COMMANDS.tick, { visitId, itemId, checked }),
  };
}
