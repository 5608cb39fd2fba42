// Every code the backend or the model can produce has words in both languages.
import { afterEach, describe, expect, it } from 'vitest';
import { BACKEND_ERROR_CODES } from '../backend';
import { AGE_BANDS, ALERT_KINDS, COVERAGE_STATUSES, INSTALLATIONS, INTERVIEW_STATUSES, OBSERVED_SEXES, SITUATIONS, SPACE_TYPES } from '../model';
import { code, dictionaryKeys, people, setLang, t } from './i18n.svelte';

afterEach(() => setLang('fr'));

const ISSUES = ['noPeople', 'pregnantExceedsWomen', 'countsContradictSituation', 'observationWhenInterviewed', 'answersWithoutInterview', 'answersWithoutVersion', 'invalidPosition', 'invalidTime'];

describe('i18n', () => {
  it('words every BackendError code and every EncounterIssue', () => {
    const keys = new Set(dictionaryKeys());
    for (const c of BACKEND_ERROR_CODES) expect(keys.has(`error.${c}`), c).toBe(true);
    for (const i of ISSUES) expect(keys.has(`issue.${i}`), i).toBe(true);
  });

  // A missing label falls back to the raw code; French labels never equal the code, so they prove
  // the entry exists (each entry is a [fr, en] pair by type).
  it('labels every model code', () => {
    const groups: [string, readonly string[]][] = [
      ['space', SPACE_TYPES], ['installation', INSTALLATIONS], ['situation', SITUATIONS], ['interview', INTERVIEW_STATUSES],
      ['sex', OBSERVED_SEXES], ['age', AGE_BANDS], ['alert', ALERT_KINDS], ['coverage', COVERAGE_STATUSES],
    ];
    for (const [g, codes] of groups) for (const c of codes) expect(code(g, c), `${g}.${c}`).not.toBe(c);
    setLang('en');
    for (const [g, codes] of groups) for (const c of codes) expect(code(g, c).length, `${g}.${c}`).toBeGreaterThan(0);
  });

  it('switches language and fills placeholders', () => {
    expect(t('sync.pending', { n: 3 })).toBe('3 en attente d’envoi');
    setLang('en');
    expect(t('sync.pending', { n: 3 })).toBe('3 waiting to be sent');
    expect(people(1)).toBe('1 person');
    expect(people(2)).toBe('2 people');
  });
});
