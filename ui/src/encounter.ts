// Pure helpers around encounters: empty drafts, the methodology's consistency rules (the same as
// Rust `Encounter::validate`, checked here for immediate feedback; Rust checks again), the draft →
// encounter conversion and the per-field edits between two versions of a recorded encounter.
import type { EncounterDraft } from './backend';
import type { Encounter, EncounterEdit, EncounterIssue, Millis, PeopleCounts, Uuid } from './model';
import { adults, emptyCounts, totalPeople } from './model';
import type { Definition } from './questionnaire/definition';
import { pruneAnswers, validateAnswers, type AnswerIssue } from './questionnaire/logic';

export function newDraft(id: Uuid, now: Millis): EncounterDraft {
  return {
    id,
    startedAt: now,
    spaceType: null,
    placeDetail: '',
    installation: null,
    situation: null,
    counts: emptyCounts(),
    interview: null,
    observedSex: null,
    ageBand: null,
    alerts: { vulnerableWoman: false, minor: false, health: false },
    position: null,
    distinctiveSigns: null,
    questionnaireVersion: null,
    answers: {},
  };
}

export type MissingField = 'spaceType' | 'installation' | 'situation' | 'interview';

/** The Rust consistency rules on counts, situation and position. */
export function countIssues(c: PeopleCounts, situation: EncounterDraft['situation']): EncounterIssue[] {
  const issues: EncounterIssue[] = [];
  const total = totalPeople(c);
  if (total === 0) issues.push('noPeople');
  if (c.pregnantWomen > c.women) issues.push('pregnantExceedsWomen');
  if (total > 0 && situation) {
    const ok =
      situation === 'alone'
        ? total === 1
        : situation === 'coupleWithoutChildren'
          ? adults(c) === 2 && c.children === 0
          : situation === 'familyWithChildren'
            ? c.children >= 1 && adults(c) >= 1
            : total >= 5;
    if (!ok) issues.push('countsContradictSituation');
  }
  return issues;
}

export interface DraftCheck {
  missing: MissingField[];
  issues: EncounterIssue[];
  answers: AnswerIssue[];
}

export function checkDraft(d: EncounterDraft, def: Definition | null): DraftCheck {
  const missing: MissingField[] = [];
  if (!d.spaceType) missing.push('spaceType');
  if (!d.installation) missing.push('installation');
  if (!d.situation) missing.push('situation');
  if (!d.interview) missing.push('interview');
  const issues = countIssues(d.counts, d.situation);
  const p = d.position;
  if (p && !(Number.isFinite(p.lat) && Number.isFinite(p.lon) && Math.abs(p.lat) <= 90 && Math.abs(p.lon) <= 180))
    issues.push('invalidPosition');
  const answers = d.interview === 'accepted' && def ? validateAnswers(def, d.answers) : [];
  return { missing, issues, answers };
}

export function isRecordable(c: DraftCheck): boolean {
  return c.missing.length === 0 && c.issues.length === 0 && c.answers.length === 0;
}

/**
 * The encounter a complete draft becomes: answers only for an accepted interview (pruned to the
 * visible questions), observations only without one. Returns `null` if a required field is unset.
 */
export function draftToEncounter(d: EncounterDraft, def: Definition | null, device: string): Encounter | null {
  if (!d.spaceType || !d.installation || !d.situation || !d.interview) return null;
  const accepted = d.interview === 'accepted';
  const answers = accepted && def ? pruneAnswers(def, d.answers) : {};
  const hasAnswers = Object.keys(answers).length > 0;
  return {
    id: d.id,
    recordedAt: d.startedAt,
    spaceType: d.spaceType,
    placeDetail: d.placeDetail.trim(),
    installation: d.installation,
    situation: d.situation,
    counts: { ...d.counts },
    interview: d.interview,
    observedSex: accepted ? null : d.observedSex,
    ageBand: accepted ? null : d.ageBand,
    alerts: { ...d.alerts },
    position: d.position,
    distinctiveSigns: d.distinctiveSigns?.trim() ? d.distinctiveSigns.trim() : null,
    questionnaireVersion: hasAnswers ? (def?.version ?? d.questionnaireVersion) : null,
    answers,
    sourceDevice: device,
    withdrawn: false,
  };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The field edits that turn `before` into `after`, one per changed field, so that two devices
 * editing different fields of one encounter never overwrite each other.
 */
export function diffEncounter(before: Encounter, after: Encounter): EncounterEdit[] {
  const edits: EncounterEdit[] = [];
  if (before.spaceType !== after.spaceType) edits.push({ field: 'spaceType', value: after.spaceType });
  if (before.placeDetail !== after.placeDetail) edits.push({ field: 'placeDetail', value: after.placeDetail });
  if (before.installation !== after.installation) edits.push({ field: 'installation', value: after.installation });
  if (before.situation !== after.situation) edits.push({ field: 'situation', value: after.situation });
  for (const f of ['men', 'women', 'unknownSex', 'children', 'pregnantWomen'] as const) {
    if (before.counts[f] !== after.counts[f]) edits.push({ field: f, value: after.counts[f] });
  }
  if (before.interview !== after.interview) edits.push({ field: 'interview', value: after.interview });
  if (before.observedSex !== after.observedSex) edits.push({ field: 'observedSex', value: after.observedSex });
  if (before.ageBand !== after.ageBand) edits.push({ field: 'ageBand', value: after.ageBand });
  if (before.alerts.vulnerableWoman !== after.alerts.vulnerableWoman)
    edits.push({ field: 'alertVulnerableWoman', value: after.alerts.vulnerableWoman });
  if (before.alerts.minor !== after.alerts.minor) edits.push({ field: 'alertMinor', value: after.alerts.minor });
  if (before.alerts.health !== after.alerts.health) edits.push({ field: 'alertHealth', value: after.alerts.health });
  if (!same(before.position, after.position)) edits.push({ field: 'position', value: after.position });
  if (before.distinctiveSigns !== after.distinctiveSigns)
    edits.push({ field: 'distinctiveSigns', value: after.distinctiveSigns });
  if (before.questionnaireVersion !== after.questionnaireVersion)
    edits.push({ field: 'questionnaireVersion', value: after.questionnaireVersion });
  const ids = new Set([...Object.keys(before.answers), ...Object.keys(after.answers)]);
  for (const id of [...ids].sort()) {
    if (!same(before.answers[id], after.answers[id]))
      edits.push({ field: 'answer', value: { questionId: id, answer: after.answers[id] ?? null } });
  }
  if (before.withdrawn !== after.withdrawn) edits.push({ field: 'withdrawn', value: after.withdrawn });
  return edits;
}

/** Applies one edit (the Rust `Encounter::apply`), returning a new encounter. */
export function applyEdit(e: Encounter, edit: EncounterEdit): Encounter {
  const n: Encounter = { ...e, counts: { ...e.counts }, alerts: { ...e.alerts }, answers: { ...e.answers } };
  switch (edit.field) {
    case 'men':
    case 'women':
    case 'unknownSex':
    case 'children':
    case 'pregnantWomen':
      n.counts[edit.field] = edit.value;
      break;
    case 'alertVulnerableWoman':
      n.alerts.vulnerableWoman = edit.value;
      break;
    case 'alertMinor':
      n.alerts.minor = edit.value;
      break;
    case 'alertHealth':
      n.alerts.health = edit.value;
      break;
    case 'answer':
      if (edit.value.answer) n.answers[edit.value.questionId] = edit.value.answer;
      else delete n.answers[edit.value.questionId];
      break;
    default:
      (n as unknown as Record<string, unknown>)[edit.field] = edit.value;
  }
  return n;
}
