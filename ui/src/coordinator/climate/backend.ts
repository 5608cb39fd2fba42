// The climate screens of the coordinator mode ("Climat" tab). Each method is one Tauri command
// (`CLIMATE_COORD_COMMANDS`, Rust in `src-tauri/src/climate_coord.rs`) over the signed-in
// coordinator session: the token stays in Rust. Errors are the coordinator mode's
// `{code, message}` (`../backend.ts`).
import type { AlertLevel, Kit, KitDocument } from '../../climate/model';
import { toCoordinatorError, type Invoke } from '../backend';
import type { ClimateProgress, KitCheck, KitPublished, LevelSet } from './model';

export interface ClimateCoordBackend {
  /** coord_climate_kit: the kit document as the server holds it (kit, level, places). */
  kit(): Promise<KitDocument>;
  /** coord_climate_default_kit: the repository's default kit, to start from. */
  defaultKit(): Promise<Kit>;
  /** coord_climate_check_kit: the kit file's rules on the edited kit, issues in French. */
  checkKit(kit: Kit): Promise<KitCheck>;
  /** coord_climate_publish_kit: checked again, then published to volunteers. */
  publishKit(kit: Kit): Promise<KitPublished>;
  /** coord_climate_set_level. */
  setLevel(level: AlertLevel): Promise<LevelSet>;
  /** coord_climate_progress: visits, items, alerts per arrondissement. */
  progress(): Promise<ClimateProgress>;
}

export const CLIMATE_COORD_COMMANDS = {
  kit: 'coord_climate_kit',
  defaultKit: 'coord_climate_default_kit',
  checkKit: 'coord_climate_check_kit',
  publishKit: 'coord_climate_publish_kit',
  setLevel: 'coord_climate_set_level',
  progress: 'coord_climate_progress',
} as const;

export function climateCoordBackend(invoke: Invoke): ClimateCoordBackend {
  const C = CLIMATE_COORD_COMMANDS;
  const call = async <T>(cmd: string, args?: Record<string, unknown>): Promise<T> => {
    try {
      return await invoke<T>(cmd, args);
    } catch (e) {
      throw toCoordinatorError(e);
    }
  };
  return {
    kit: () => call(C.kit),
    defaultKit: () => call(C.defaultKit),
    checkKit: (kit) => call(C.checkKit, { kit }),
    publishKit: (kit) => call(C.publishKit, { kit }),
    setLevel: (level) => call(C.setLevel, { level }),
    progress: () => call(C.progress),
  };
}
