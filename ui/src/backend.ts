// The contract between the UI and the app's Rust side. Every method is one Tauri command (name in
// the comment; arguments are sent as an object with these camelCase names, which Tauri maps to the
// Rust parameters in snake_case). Results are the serde JSON of the Rust types mirrored in
// `model.ts`. A failed command rejects with a `BackendError` object, never a bare string.
import type {
  AgeBand,
  AlertKind,
  Alerts,
  Answers,
  Encounter,
  EncounterEdit,
  Installation,
  InterviewStatus,
  Millis,
  Night,
  ObservedSex,
  PeopleCounts,
  Position,
  Round,
  SectorCoverage,
  SectorId,
  Situation,
  SpaceType,
  Team,
  Uuid,
} from './model';
import type { TallyKey } from './tally';

/** Error codes that cross IPC; the UI words each of them (see i18n `error.*`). */
export const BACKEND_ERROR_CODES = [
  'notEnrolled',
  'invalidServerUrl',
  'serverUnreachable',
  'invalidEnrolmentCode',
  'enrolmentCodeUsed',
  /** Enrolled (code spent) but the documents have not arrived yet: show the waiting state. */
  'enrolmentPending',
  'invalidInput',
  'invalidEncounter',
  'notFound',
  'roundClosed',
  'noOpenRound',
  'roundAlreadyOpen',
  'storage',
  'internal',
  /** Made by the UI when IPC itself failed or the reply had no known shape. */
  'ipc',
] as const;
export type BackendErrorCode = (typeof BACKEND_ERROR_CODES)[number];

/**
 * An error crossing IPC. `message` is English, for developers only (no answer, free text or token
 * in it); the UI words the `code`. `issues` carries the Rust `EncounterIssue` codes for
 * `invalidEncounter`.
 */
export interface BackendError {
  code: BackendErrorCode;
  message: string;
  issues?: string[];
}

/** An encounter being written: everything optional until `recordEncounter`. Saved as a whole. */
export interface EncounterDraft {
  /** UUID v7 made by the UI when the form opens; becomes the encounter's id. */
  id: Uuid;
  /** When the team started recording; becomes `recordedAt`. */
  startedAt: Millis;
  spaceType: SpaceType | null;
  placeDetail: string;
  installation: Installation | null;
  situation: Situation | null;
  counts: PeopleCounts;
  interview: InterviewStatus | null;
  observedSex: ObservedSex | null;
  ageBand: AgeBand | null;
  alerts: Alerts;
  position: Position | null;
  distinctiveSigns: string | null;
  questionnaireVersion: number | null;
  answers: Answers;
}

/** What the app knows about its team: the night (with the team's sectors) and the team document. */
export interface TeamState {
  deviceId: string;
  serverUrl: string;
  night: Night;
  team: Team;
}

/** Where an encounter is: only on this device, or acknowledged (stored) by the server. */
export type RecordSyncState = 'device' | 'server';

export interface EncounterRecord {
  encounter: Encounter;
  syncState: RecordSyncState;
}

export type SyncPhase = 'idle' | 'syncing' | 'offline' | 'error';

export interface SyncStatus {
  phase: SyncPhase;
  /** Records (encounters, tallies, rounds, coverage) not yet acknowledged by the server. */
  pending: number;
  lastSyncAt: Millis | null;
  /** The last error, when `phase` is `error` (or `offline` with a reason). */
  error: BackendError | null;
}

export type EmergencyNumber = '15' | '18' | '112' | '115';

export interface AlertRequest {
  /** A recorded encounter or an open draft to flag; `null` for an alert tied to no encounter yet. */
  encounterId: Uuid | null;
  kinds: AlertKind[];
  /** The number the team called, if any (the call itself is made by the phone). */
  calledNumber: EmergencyNumber | null;
}

/** `get_enrolment`: what the device was enrolled as (never its token). */
export interface EnrolmentView {
  kind: 'team' | 'volunteer';
  /** The team's or the volunteer group's name. */
  name: string;
  serverUrl: string;
}

/**
 * Event `access-revoked`: the server refused this device's token (the coordination closed the
 * night, or revoked the device). `erased`: everything had reached the server, the night's data
 * is gone from the device; `kept`: `pending` changes never reached it and stay on the device.
 */
export type AccessRevoked = { outcome: 'erased' } | { outcome: 'kept'; pending: number };

export type Unlisten = () => void;

export interface Backend {
  /**
   * `enrol`: trades a single-use enrolment code for a device token (kept by Rust). The team's
   * state for a team code; `null` for a climate volunteer's code (see `climate/backend.ts`).
   */
  enrol(serverUrl: string, code: string): Promise<TeamState | null>;
  /** `get_team_state`: `null` when the device is not enrolled yet. */
  getTeamState(): Promise<TeamState | null>;
  /**
   * `get_enrolment`: `null` before enrolment. Enrolled with no team state (nor volunteer state)
   * means the documents are still on their way from the server.
   */
  getEnrolment(): Promise<EnrolmentView | null>;
  /** `list_drafts`: drafts left open (e.g. the app was killed mid-form). */
  listDrafts(): Promise<EncounterDraft[]>;
  /** `save_draft`: stores the whole draft on the device (upsert by id). */
  saveDraft(draft: EncounterDraft): Promise<void>;
  /** `discard_draft`. */
  discardDraft(id: Uuid): Promise<void>;
  /** `record_encounter`: validates, writes the encounter to the team document, drops the draft. */
  recordEncounter(draft: EncounterDraft): Promise<Encounter>;
  /** `edit_encounter`: one field; fails with `roundClosed` once its round is checked out. */
  editEncounter(id: Uuid, edit: EncounterEdit): Promise<Encounter>;
  /** `add_to_tally`: returns the new value of the counter. */
  addToTally(dimension: TallyKey, delta: number): Promise<number>;
  /** `check_in`: opens a round on a sector. */
  checkIn(sectorId: SectorId | null): Promise<Round>;
  /** `check_out`: closes the open round. */
  checkOut(): Promise<Round>;
  /** `mark_sector_covered`: `zeroFound` → `coveredNoneFound`, else `covered`. */
  markSectorCovered(sectorId: SectorId, zeroFound: boolean): Promise<SectorCoverage>;
  /** `list_encounters`: newest first, with their sync state. */
  listEncounters(): Promise<EncounterRecord[]>;
  /** `raise_alert`: sets the alert flags on the encounter/draft and syncs it first. */
  raiseAlert(alert: AlertRequest): Promise<void>;
  /** `reconnect_now`: the sync client tries the server now instead of after its backoff. */
  reconnectNow(): Promise<void>;
  /** `get_sync_status`. */
  getSyncStatus(): Promise<SyncStatus>;
  /** Event `sync-status`, payload `SyncStatus`. */
  onSyncStatus(handler: (s: SyncStatus) => void): Promise<Unlisten>;
  /** Event `team-changed` (no payload: call `getTeamState`/`listEncounters` again). */
  onTeamChanged(handler: () => void): Promise<Unlisten>;
  /** Event `access-revoked`, payload `AccessRevoked`. */
  onAccessRevoked(handler: (r: AccessRevoked) => void): Promise<Unlisten>;
}

/** Command names, as registered in the Tauri shell. */
export const COMMANDS = {
  enrol: 'enrol',
  getTeamState: 'get_team_state',
  getEnrolment: 'get_enrolment',
  listDrafts: 'list_drafts',
  saveDraft: 'save_draft',
  discardDraft: 'discard_draft',
  recordEncounter: 'record_encounter',
  editEncounter: 'edit_encounter',
  addToTally: 'add_to_tally',
  checkIn: 'check_in',
  checkOut: 'check_out',
  markSectorCovered: 'mark_sector_covered',
  listEncounters: 'list_encounters',
  raiseAlert: 'raise_alert',
  getSyncStatus: 'get_sync_status',
  reconnectNow: 'reconnect_now',
} as const;

export const EVENTS = { syncStatus: 'sync-status', teamChanged: 'team-changed', accessRevoked: 'access-revoked' } as const;

function isCode(c: unknown): c is BackendErrorCode {
  return typeof c === 'string' && (BACKEND_ERROR_CODES as readonly string[]).includes(c);
}

/** Anything a command rejected with → a `BackendError`. Unknown shapes become `ipc`. */
export function toBackendError(e: unknown): BackendError {
  if (e && typeof e === 'object' && 'code' in e) {
    const o = e as { code: unknown; message?: unknown; issues?: unknown };
    const message = typeof o.message === 'string' ? o.message : '';
    const issues = Array.isArray(o.issues) ? o.issues.filter((i): i is string => typeof i === 'string') : undefined;
    if (isCode(o.code)) return issues ? { code: o.code, message, issues } : { code: o.code, message };
    return { code: 'internal', message: `unknown error code` };
  }
  // A bare string or an Error: the Rust side broke the contract, or IPC failed. Its text is not
  // shown (it could echo data); the code is enough for the UI.
  return { code: 'ipc', message: 'command failed without a structured error' };
}

export function isBackendError(e: unknown): e is BackendError {
  return !!e && typeof e === 'object' && isCode((e as { code?: unknown }).code) && typeof (e as { message?: unknown }).message === 'string';
}
