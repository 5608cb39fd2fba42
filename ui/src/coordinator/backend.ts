// What the coordinator screens need from the app. Each method is one Tauri command (names in
// `COORDINATOR_COMMANDS`, Rust in `src-tauri/src/coordinator/`). The Rust side holds the
// coordinator token and calls the server; the webview never sees the token nor the network.
import { listen } from '@tauri-apps/api/event';

export type CoordinatorErrorCode =
  | 'invalidServerUrl'
  | 'serverUnreachable'
  | 'unauthorized'
  | 'notCoordinator'
  | 'notSignedIn'
  | 'notFound'
  | 'invalidInput'
  | 'serverError'
  | 'cancelled'
  | 'fileError'
  /** Made by the UI when IPC itself failed or the reply had no known shape. */
  | 'ipc';

const CODES: readonly CoordinatorErrorCode[] = [
  'invalidServerUrl',
  'serverUnreachable',
  'unauthorized',
  'notCoordinator',
  'notSignedIn',
  'notFound',
  'invalidInput',
  'serverError',
  'cancelled',
  'fileError',
  'ipc',
];

export interface CoordinatorError {
  code: CoordinatorErrorCode;
  message: string;
}

/** French wording of each error (the `message` is English, for developers). */
export const ERROR_FR: Record<CoordinatorErrorCode, string> = {
  invalidServerUrl: 'Adresse du serveur invalide (http:// ou https://).',
  serverUnreachable: 'Serveur injoignable. Vérifiez la connexion et l’adresse.',
  unauthorized: 'Jeton refusé (inconnu, expiré ou révoqué).',
  notCoordinator: 'Ce jeton n’est pas un jeton de coordination d’une nuit.',
  notSignedIn: 'Session de coordination terminée : reconnectez-vous.',
  notFound: 'Introuvable sur le serveur.',
  invalidInput: 'Saisie refusée.',
  serverError: 'Réponse inattendue du serveur.',
  cancelled: 'Export annulé : aucun fichier n’a été écrit.',
  fileError: 'Le fichier n’a pas pu être écrit (dossier de téléchargement inaccessible ou plein).',
  ipc: 'L’application ne répond pas.',
};

export function toCoordinatorError(e: unknown): CoordinatorError {
  if (e && typeof e === 'object' && 'code' in e) {
    const o = e as { code: unknown; message?: unknown };
    const message = typeof o.message === 'string' ? o.message : '';
    if (typeof o.code === 'string' && (CODES as readonly string[]).includes(o.code)) {
      return { code: o.code as CoordinatorErrorCode, message };
    }
  }
  return { code: 'ipc', message: 'command failed without a structured error' };
}

export function errorText(e: unknown): string {
  return ERROR_FR[toCoordinatorError(e).code];
}

export type Millis = number;

export interface Session {
  serverUrl: string;
  nightId: string;
  nightName: string;
  peerId: string;
}

export type SectorState = 'notStarted' | 'inProgress' | 'silent' | 'covered' | 'coveredNoneFound' | 'notAccessible';

export interface SectorProgress {
  sectorId: string;
  name: string;
  arrondissement: number | null;
  state: SectorState;
  teams: string[];
  encounters: number;
  persons: number;
  lastChangeAt: Millis | null;
  minutesSinceChange: number | null;
}

export interface TeamProgress {
  teamId: string;
  name: string;
  readable: boolean;
  sectors: string[];
  out: boolean;
  encounters: number;
  persons: number;
  tallied: number;
  lastChangeAt: Millis | null;
  minutesSinceChange: number | null;
}

export interface Progress {
  night_id: string;
  night_name: string;
  generatedAt: Millis;
  silentAfterMinutes: number;
  sectors: SectorProgress[];
  teams: TeamProgress[];
  totals: {
    sectors: Partial<Record<SectorState, number>>;
    encounters: number;
    persons: number;
    tallied: number;
    unplacedPersons: number;
    teams: number;
    teamsOut: number;
    unreadableTeams: number;
  };
}

export interface Counts {
  persons: number;
  men: number;
  women: number;
  unknownSex: number;
  children: number;
}

export interface Line extends Counts {
  key: string;
  label: string;
}

export interface AreaLine extends Line {
  encounters: number;
  questionnaires: number;
}

/** `carnet_shared::report::Consolidation` (the fields the screens show). */
export interface Consolidation {
  nightId: string;
  totals: Counts;
  pregnantWomen: number;
  encounters: number;
  talliedPersons: number;
  partnerPersons: number;
  shareOfWomen: number | null;
  questionnairesCompleted: number;
  questionnaireRate: number | null;
  byArea: AreaLine[];
  bySpaceType: Line[];
  byAgeBand: Line[];
  bySituation: Line[];
  byInterview: Line[];
  excluded: { withdrawnEncounters: number; withdrawnPersons: number; duplicateEncounters: number; duplicatePersons: number };
  teams: { consolidated: number; unreadable: unknown[]; missing: string[] };
}

export type Verdict = 'confirmed' | 'rejected';

export interface DuplicateCandidate {
  pair: string;
  reason: string;
  first: string;
  second: string;
  firstTeam: string;
  secondTeam: string;
  distanceM: number;
  minutesApart: number;
  composition: 'same' | 'compatibleSex';
  score: number;
  decision: Verdict | null;
}

export interface Duplicates {
  config: { maxDistanceM: number; maxGapMs: number };
  candidates: DuplicateCandidate[];
}

export interface DuplicateDecision {
  first: string;
  second: string;
  verdict: Verdict;
  decidedBy: string;
  decidedAt: Millis;
}

export type ExportKind = 'encounters' | 'questionnaires' | 'totals' | 'geojson';

/** `coord-export-progress` events: what came so far; totals when the server announced them. */
export interface ExportProgress {
  exportId: string;
  bytes: number;
  totalBytes: number | null;
  rows: number;
  totalRows: number | null;
  done: boolean;
}

export interface ExportDone {
  path: string;
  bytes: number;
  rows: number;
}

/** `carnet_shared::model::EncounterEdit`: one field and its value. */
export interface EncounterEdit {
  field: string;
  value: unknown;
}

/** A field of an encounter edited concurrently on two devices. */
export interface Conflict {
  teamId: string;
  encounterId: string;
  field: string;
  values: EncounterEdit[];
  current: number;
  resolution: EncounterEdit | null;
}

export interface ConflictResolution {
  teamId: string;
  encounterId: string;
  chosen: EncounterEdit;
  resolvedBy: string;
  resolvedAt: Millis;
}

export interface PurgeReport {
  documents: number;
  purged: number;
  /** Team documents the server could not read (a newer app's schema): left unchanged. */
  unreadable: { team_id: string; name: string }[];
}

export type Unlisten = () => void;
export type Subscribe = <T>(event: string, handler: (payload: T) => void) => Promise<Unlisten>;

export const EXPORT_PROGRESS_EVENT = 'coord-export-progress';

export interface CoordinatorBackend {
  /** coord_sign_in: checks the token with the server and keeps it (in Rust only). */
  signIn(serverUrl: string, token: string): Promise<Session>;
  /** coord_session: the signed-in coordinator, if any. */
  session(): Promise<Session | null>;
  /** coord_sign_out: forgets the token. */
  signOut(): Promise<void>;
  /** coord_progress: live progress of the night. */
  progress(silentAfterMinutes: number | null): Promise<Progress>;
  /** coord_progress_map: the map as SVG text (shown as an image). */
  progressMap(): Promise<string>;
  /** coord_consolidation: the consolidated figures. */
  consolidation(): Promise<Consolidation>;
  /** coord_duplicates: candidate duplicate pairs, best first. */
  duplicates(): Promise<Duplicates>;
  /** coord_decide_duplicate. */
  decideDuplicate(first: string, second: string, verdict: Verdict): Promise<DuplicateDecision>;
  /** coord_export: downloads an export into the download folder; progress as events. */
  exportFile(exportId: string, kind: ExportKind, precision: number | null): Promise<ExportDone>;
  /** coord_cancel_export: false if that export already ended. */
  cancelExport(exportId: string): Promise<boolean>;
  /** `coord-export-progress` events. */
  onExportProgress(handler: (p: ExportProgress) => void): Promise<Unlisten>;
  /** coord_conflicts: fields edited concurrently. */
  conflicts(): Promise<Conflict[]>;
  /** coord_resolve_conflict: `chosen` is one of the conflict's values. */
  resolveConflict(encounterId: string, chosen: EncounterEdit): Promise<ConflictResolution>;
  /** coord_purge_field_data: removes the distinctive signs of the whole night. */
  purgeFieldData(): Promise<PurgeReport>;
}

export const COORDINATOR_COMMANDS = {
  signIn: 'coord_sign_in',
  session: 'coord_session',
  signOut: 'coord_sign_out',
  progress: 'coord_progress',
  progressMap: 'coord_progress_map',
  consolidation: 'coord_consolidation',
  duplicates: 'coord_duplicates',
  decideDuplicate: 'coord_decide_duplicate',
  exportFile: 'coord_export',
  cancelExport: 'coord_cancel_export',
  conflicts: 'coord_conflicts',
  resolveConflict: 'coord_resolve_conflict',
  purgeFieldData: 'coord_purge_field_data',
} as const;

export type Invoke = <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;

const tauriSubscribe: Subscribe = (event, handler) => listen(event, (e) => handler(e.payload as never));

/** The Tauri implementation over an `invoke`-like function (platform.ts owns the real one) and
 *  an event subscription (Tauri's `listen` by default). */
export function coordinatorBackend(invoke: Invoke, subscribe: Subscribe = tauriSubscribe): CoordinatorBackend {
  const C = COORDINATOR_COMMANDS;
  const call = async <T>(cmd: string, args?: Record<string, unknown>): Promise<T> => {
    try {
      return await invoke<T>(cmd, args);
    } catch (e) {
      throw toCoordinatorError(e);
    }
  };
  return {
    signIn: (serverUrl, token) => call(C.signIn, { serverUrl, token }),
    session: () => call(C.session),
    signOut: () => call(C.signOut),
    progress: (silentAfterMinutes) => call(C.progress, { silentAfterMinutes }),
    progressMap: () => call(C.progressMap),
    consolidation: () => call(C.consolidation),
    duplicates: () => call(C.duplicates),
    decideDuplicate: (first, second, verdict) => call(C.decideDuplicate, { first, second, verdict }),
    exportFile: (exportId, kind, precision) => call(C.exportFile, { exportId, kind, precision }),
    cancelExport: (exportId) => call(C.cancelExport, { exportId }),
    onExportProgress: async (handler) => {
      try {
        return await subscribe<ExportProgress>(EXPORT_PROGRESS_EVENT, handler);
      } catch (e) {
        throw toCoordinatorError(e);
      }
    },
    conflicts: () => call(C.conflicts),
    resolveConflict: (encounterId, chosen) => call(C.resolveConflict, { encounterId, chosen }),
    purgeFieldData: () => call(C.purgeFieldData),
  };
}
