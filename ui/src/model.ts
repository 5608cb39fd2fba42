// TypeScript mirror of the Rust domain model (`shared/src/model/`), as serde serialises it:
// camelCase fields, enums as their stable codes. Keep the code lists in the same order as the
// Rust `ALL` constants so that grids and tallies line up with the server's reports.

/** Milliseconds since the Unix epoch (UTC). */
export type Millis = number;
/** A UUID (v7 for everything a device creates) in its canonical text form. */
export type Uuid = string;

export const SPACE_TYPES = [
  'street',
  'specificSector',
  'metroRer',
  'woods',
  'sncfStation',
  'hospital',
  'carPark',
  'socialHousing',
] as const;
export type SpaceType = (typeof SPACE_TYPES)[number];

export const INSTALLATIONS = ['none', 'tent', 'makeshiftCabinOrVehicle', 'other'] as const;
export type Installation = (typeof INSTALLATIONS)[number];

export const SITUATIONS = [
  'alone',
  'coupleWithoutChildren',
  'familyWithChildren',
  'groupOfFivePlus',
] as const;
export type Situation = (typeof SITUATIONS)[number];

export const INTERVIEW_STATUSES = [
  'accepted',
  'refused',
  'asleep',
  'languageBarrier',
  'conditionDoesNotAllow',
  'other',
] as const;
export type InterviewStatus = (typeof INTERVIEW_STATUSES)[number];

export const OBSERVED_SEXES = ['male', 'female', 'unknown'] as const;
export type ObservedSex = (typeof OBSERVED_SEXES)[number];

export const AGE_BANDS = [
  'under18',
  'from18To24',
  'from25To34',
  'from35To44',
  'from45To54',
  'from55To64',
  'from65',
  'unknown',
] as const;
export type AgeBand = (typeof AGE_BANDS)[number];

export const COVERAGE_STATUSES = ['inProgress', 'covered', 'coveredNoneFound', 'notAccessible'] as const;
export type CoverageStatus = (typeof COVERAGE_STATUSES)[number];

export interface PeopleCounts {
  men: number;
  women: number;
  unknownSex: number;
  children: number;
  /** Also counted in `women`. */
  pregnantWomen: number;
}

export interface Alerts {
  vulnerableWoman: boolean;
  minor: boolean;
  health: boolean;
}
export type AlertKind = keyof Alerts;
export const ALERT_KINDS: readonly AlertKind[] = ['vulnerableWoman', 'minor', 'health'];

export interface Position {
  lat: number;
  lon: number;
}

/** One questionnaire answer: serde's adjacently tagged enum `{kind, value}`. */
export type Answer =
  | { kind: 'choice'; value: string }
  | { kind: 'choices'; value: string[] }
  | { kind: 'number'; value: number }
  | { kind: 'text'; value: string }
  | { kind: 'doesNotKnow' }
  | { kind: 'declines' };

export type Answers = Record<string, Answer>;

export interface Encounter {
  id: Uuid;
  recordedAt: Millis;
  spaceType: SpaceType;
  placeDetail: string;
  installation: Installation;
  situation: Situation;
  counts: PeopleCounts;
  interview: InterviewStatus;
  observedSex: ObservedSex | null;
  ageBand: AgeBand | null;
  alerts: Alerts;
  position: Position | null;
  distinctiveSigns: string | null;
  questionnaireVersion: number | null;
  answers: Answers;
  sourceDevice: string;
  withdrawn: boolean;
}

/** A change to one field of a recorded encounter: serde's `{field, value}`. */
export type EncounterEdit =
  | { field: 'spaceType'; value: SpaceType }
  | { field: 'placeDetail'; value: string }
  | { field: 'installation'; value: Installation }
  | { field: 'situation'; value: Situation }
  | { field: 'men'; value: number }
  | { field: 'women'; value: number }
  | { field: 'unknownSex'; value: number }
  | { field: 'children'; value: number }
  | { field: 'pregnantWomen'; value: number }
  | { field: 'interview'; value: InterviewStatus }
  | { field: 'observedSex'; value: ObservedSex | null }
  | { field: 'ageBand'; value: AgeBand | null }
  | { field: 'alertVulnerableWoman'; value: boolean }
  | { field: 'alertMinor'; value: boolean }
  | { field: 'alertHealth'; value: boolean }
  | { field: 'position'; value: Position | null }
  | { field: 'distinctiveSigns'; value: string | null }
  | { field: 'questionnaireVersion'; value: number | null }
  | { field: 'answer'; value: { questionId: string; answer: Answer | null } }
  | { field: 'withdrawn'; value: boolean };

/** Codes of the Rust `EncounterIssue` (serialised as `{code}`). */
export type EncounterIssue =
  | 'noPeople'
  | 'pregnantExceedsWomen'
  | 'countsContradictSituation'
  | 'observationWhenInterviewed'
  | 'answersWithoutInterview'
  | 'answersWithoutVersion'
  | 'invalidPosition'
  | 'invalidTime';

export type SectorId = string;
export type TeamId = string;

export interface Sector {
  name: string;
  arrondissement: number | null;
  /** GeoJSON geometry (Polygon or MultiPolygon) as text. */
  geojson: string;
}

export interface QuestionnaireDefinitionRef {
  version: number;
  /** The definition as JSON text (see `questionnaire/FORMAT.md`). */
  definition: string;
}

export interface Night {
  id: Uuid;
  /** `YYYY-MM-DD` of the evening the count starts. */
  date: string;
  label: string;
  sectors: Record<SectorId, Sector>;
  questionnaire: QuestionnaireDefinitionRef | null;
  teams: Record<TeamId, string>;
}

export interface Round {
  id: Uuid;
  sectorId: SectorId | null;
  checkedInAt: Millis;
  checkedOutAt: Millis | null;
  device: string;
}

export interface SectorCoverage {
  status: CoverageStatus;
  updatedAt: Millis;
  device: string;
}

export interface Team {
  teamId: TeamId;
  nightId: Uuid;
  name: string;
  /** A BTreeSet in Rust: a sorted array in JSON. */
  sectors: SectorId[];
  rounds: Record<Uuid, Round>;
  encounters: Record<Uuid, Encounter>;
  /** Tally key (`space:sex:age`) -> count; zeros included. */
  tallies: Record<string, number>;
  coverage: Record<SectorId, SectorCoverage>;
}

export function emptyCounts(): PeopleCounts {
  return { men: 0, women: 0, unknownSex: 0, children: 0, pregnantWomen: 0 };
}

export function totalPeople(c: PeopleCounts): number {
  return c.men + c.women + c.unknownSex + c.children;
}

export function adults(c: PeopleCounts): number {
  return c.men + c.women + c.unknownSex;
}

/** The round under way (checked in, not out), if any. */
export function openRound(team: Team): Round | null {
  return Object.values(team.rounds).find((r) => r.checkedOutAt === null) ?? null;
}

/**
 * An encounter stays editable until the round it was recorded in closes: it is locked once a
 * checked-out round covers its time.
 */
export function isEditable(team: Team, e: Encounter): boolean {
  return !Object.values(team.rounds).some(
    (r) => r.checkedOutAt !== null && r.checkedInAt <= e.recordedAt && e.recordedAt <= r.checkedOutAt,
  );
}

/** Makes a UUID v7 (RFC 9562): 48-bit milliseconds, version, 74 random bits, variant. */
export function uuidV7(now: Millis, random: Uint8Array): Uuid {
  if (random.length < 10) throw new RangeError('uuidV7 needs 10 random bytes');
  const b = new Uint8Array(16);
  let t = Math.floor(now);
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b.set(random.subarray(0, 10), 6);
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
