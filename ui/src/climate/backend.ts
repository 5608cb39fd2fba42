// What the climate screens need from the app. Each method is one Tauri command (name in
// `CLIMATE_COMMANDS`); the Rust side reads the `kit` and `field` documents with
// `carnet_shared::climate` (nearest places: `climate::nearest`, offline).
import type { Field, Handout, KitDocument, Nearby, PlaceKind, Visit, VolunteerState } from './model';

export interface ClimateBackend {
  /** climate_get_state: null unless the device is enrolled as a volunteer (and holds its group). */
  getState(): Promise<VolunteerState | null>;
  /** climate_start_visit: a new visit in an arrondissement with one of the kit's checklists. */
  startVisit(area: string, checklistId: string): Promise<Visit>;
  /** climate_get_kit: the kit document held on the device (null before the first sync). */
  getKit(): Promise<KitDocument | null>;
  /** climate_nearest_places: the `n` nearest places, of `kind` if given. */
  nearestPlaces(lat: number, lon: number, n: number, kind: PlaceKind | null): Promise<Nearby[]>;
  /** climate_tick: ticks (or unticks) an item of a visit's checklist in the field document. */
  tick(visitId: string, itemId: string, checked: boolean): Promise<Visit | void>;
  /** climate_hand_out: `delta` items of `kind` on a visit (negative to correct); the group's field document. */
  handOut(visitId: string, kind: Handout, delta: number): Promise<Field>;
}

export const CLIMATE_COMMANDS = {
  getState: 'climate_get_state',
  startVisit: 'climate_start_visit',
  getKit: 'climate_get_kit',
  nearestPlaces: 'climate_nearest_places',
  tick: 'climate_tick',
  handOut: 'climate_hand_out',
} as const;

/** The Tauri implementation over an `invoke`-like function (platform.ts owns the real one). */
export function climateBackend(
  invoke: <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>,
): ClimateBackend {
  return {
    getState: () => invoke(CLIMATE_COMMANDS.getState),
    startVisit: (area, checklistId) => invoke(CLIMATE_COMMANDS.startVisit, { area, checklistId }),
    getKit: () => invoke(CLIMATE_COMMANDS.getKit),
    nearestPlaces: (lat, lon, n, kind) => invoke(CLIMATE_COMMANDS.nearestPlaces, { lat, lon, n, kind }),
    tick: (visitId, itemId, checked) => invoke(CLIMATE_COMMANDS.tick, { visitId, itemId, checked }),
    handOut: (visitId, kind, delta) => invoke(CLIMATE_COMMANDS.handOut, { visitId, kind, delta }),
  };
}
