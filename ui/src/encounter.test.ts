import { describe, expect, it } from 'vitest';
import { applyEdit, checkDraft, countIssues, diffEncounter, draftToEncounter, isRecordable, newDraft } from './encounter';
import { isEditable, uuidV7, type Encounter, type Team } from './model';
import { defaultDefinition } from './questionnaire/fixtures';

const ID = '019c0b8e-7a00-7000-8000-000000000001';

function complete() {
  const d = newDraft(ID, 1_769_814_000_000);
  d.spaceType = 'metroRer';
  d.installation = 'none';
  d.situation = 'alone';
  d.counts.women = 1;
  d.interview = 'accepted';
  return d;
}

describe('encounter consistency (same rules as Rust Encounter::validate)', () => {
  it('counts must match the situation and pregnancies', () => {
    expect(countIssues({ men: 0, women: 0, unknownSex: 0, children: 0, pregnantWomen: 0 }, 'alone')).toEqual(['noPeople']);
    expect(countIssues({ men: 1, women: 1, unknownSex: 0, children: 0, pregnantWomen: 0 }, 'alone')).toEqual(['countsContradictSituation']);
    expect(countIssues({ men: 1, women: 1, unknownSex: 0, children: 0, pregnantWomen: 0 }, 'coupleWithoutChildren')).toEqual([]);
    expect(countIssues({ men: 0, women: 1, unknownSex: 0, children: 0, pregnantWomen: 2 }, 'alone')).toEqual(['pregnantExceedsWomen']);
    expect(countIssues({ men: 0, women: 1, unknownSex: 0, children: 2, pregnantWomen: 0 }, 'familyWithChildren')).toEqual([]);
    expect(countIssues({ men: 0, women: 0, unknownSex: 0, children: 2, pregnantWomen: 0 }, 'familyWithChildren')).toEqual(['countsContradictSituation']);
    expect(countIssues({ men: 3, women: 1, unknownSex: 0, children: 0, pregnantWomen: 0 }, 'groupOfFivePlus')).toEqual(['countsContradictSituation']);
    expect(countIssues({ men: 3, women: 1, unknownSex: 1, children: 0, pregnantWomen: 0 }, 'groupOfFivePlus')).toEqual([]);
  });

  it('a new draft lists what is missing; a complete one is recordable once the questionnaire is answered', () => {
    const def = defaultDefinition();
    const empty = checkDraft(newDraft(ID, 0), def);
    expect(empty.missing).toEqual(['spaceType', 'installation', 'situation', 'interview']);
    expect(isRecordable(empty)).toBe(false);
    const d = complete();
    expect(checkDraft(d, def).answers.length).toBeGreaterThan(0);
    d.interview = 'refused';
    expect(isRecordable(checkDraft(d, def))).toBe(true);
  });
});

describe('draftToEncounter', () => {
  it('drops answers unless the interview was accepted, and observations when it was', () => {
    const def = defaultDefinition();
    const d = complete();
    d.answers = { sex: { kind: 'choice', value: 'female' } };
    d.observedSex = 'female';
    d.ageBand = 'from25To34';
    const accepted = draftToEncounter(d, def, 'dev')!;
    expect(accepted.answers).toEqual({ sex: { kind: 'choice', value: 'female' } });
    expect(accepted.questionnaireVersion).toBe(def.version);
    expect(accepted.observedSex).toBeNull();
    expect(accepted.ageBand).toBeNull();
    const refused = draftToEncounter({ ...d, interview: 'refused' }, def, 'dev')!;
    expect(refused.answers).toEqual({});
    expect(refused.questionnaireVersion).toBeNull();
    expect(refused.observedSex).toBe('female');
  });

  it('prunes answers of hidden questions', () => {
    const def = defaultDefinition();
    const d = complete();
    d.answers = { called115: { kind: 'choice', value: 'lastWeek' }, whyNot115: { kind: 'choices', value: ['unknown'] } };
    expect(Object.keys(draftToEncounter(d, def, 'dev')!.answers)).toEqual(['called115']);
  });

  it('is null while a required field is unset', () => {
    expect(draftToEncounter(newDraft(ID, 0), null, 'dev')).toBeNull();
  });
});

describe('field edits', () => {
  it('diffEncounter yields one edit per changed field, and applying them gives the new encounter', () => {
    const before = draftToEncounter(complete(), defaultDefinition(), 'dev')!;
    const after: Encounter = {
      ...before,
      counts: { ...before.counts, men: 1, women: 1 },
      situation: 'coupleWithoutChildren',
      alerts: { ...before.alerts, health: true },
      position: { lat: 48.86, lon: 2.35 },
      answers: { sex: { kind: 'declines' } },
    };
    const edits = diffEncounter(before, after);
    expect(edits.map((e) => e.field)).toEqual(['situation', 'men', 'alertHealth', 'position', 'answer']);
    expect(edits.reduce(applyEdit, before)).toEqual(after);
    expect(diffEncounter(after, after)).toEqual([]);
    const removed = diffEncounter(after, { ...after, answers: {} });
    expect(removed).toEqual([{ field: 'answer', value: { questionId: 'sex', answer: null } }]);
  });
});

describe('rounds and ids', () => {
  it('an encounter is locked once its round is checked out', () => {
    const e = draftToEncounter(complete(), null, 'dev')!;
    const team = { rounds: { r: { id: 'r', sectorId: null, checkedInAt: e.recordedAt - 10, checkedOutAt: null, device: 'd' } } } as unknown as Team;
    expect(isEditable(team, e)).toBe(true);
    team.rounds.r.checkedOutAt = e.recordedAt + 10;
    expect(isEditable(team, e)).toBe(false);
    expect(isEditable(team, { ...e, recordedAt: e.recordedAt + 20 })).toBe(true);
  });

  it('uuidV7 has the time prefix, version 7 and the RFC variant', () => {
    const id = uuidV7(0x0123456789ab, new Uint8Array(10).fill(0xff));
    expect(id).toBe('01234567-89ab-7fff-bfff-ffffffffffff');
    expect(uuidV7(1_769_814_000_000, new Uint8Array(10))).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
