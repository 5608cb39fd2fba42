import { describe, expect, it } from 'vitest';
import { DefinitionError, parseDefinition, SUPPORTED_FORMAT_VERSION } from './definition';
import { DEFAULT_JSON, smallDefinition } from './fixtures';

function errorOf(input: unknown): DefinitionError {
  try {
    parseDefinition(input);
  } catch (e) {
    if (e instanceof DefinitionError) return e;
    throw e;
  }
  throw new Error('definition was accepted');
}

describe('parseDefinition', () => {
  it('accepts the shipped default questionnaire and keeps every question', () => {
    const def = parseDefinition(DEFAULT_JSON);
    const raw = JSON.parse(DEFAULT_JSON) as { questions: unknown[] };
    expect(def.formatVersion).toBe(SUPPORTED_FORMAT_VERSION);
    expect(def.questions).toHaveLength(raw.questions.length);
    const ids = def.questions.map((q) => q.id);
    for (const theme of ['sex', 'ageBand', 'withWhom', 'timeWithoutHousing', 'reason', 'resources', 'called115', 'whyNot115', 'everShelter', 'socialWorker', 'healthCoverage', 'servicesUsed', 'healthCare', 'needs'])
      expect(ids).toContain(theme);
  });

  it('default questionnaire offers no way to answer about nationality', () => {
    const def = parseDefinition(DEFAULT_JSON);
    const asked = JSON.stringify(def.questions).toLowerCase();
    expect(asked).not.toMatch(/nationalit|citizenship|pays de naissance|country of birth/);
  });

  it('rejects text that is not JSON with a typed, bilingual error', () => {
    const e = errorOf('{"formatVersion": 1,');
    expect(e.code).toBe('notJson');
    expect(e.text.fr).toMatch(/questionnaire/i);
    expect(e.text.en).toMatch(/questionnaire/i);
  });

  it('rejects a newer formatVersion before looking at anything else', () => {
    const e = errorOf({ formatVersion: SUPPORTED_FORMAT_VERSION + 1, questions: 'whatever' });
    expect(e.code).toBe('unsupportedFormatVersion');
    expect(e.text.fr).toMatch(/mettez l'application à jour/i);
    expect(e.text.en).toMatch(/update the app/i);
  });

  it.each([
    ['not an object', []],
    ['missing formatVersion', { ...smallDefinition(), formatVersion: undefined }],
    ['fractional version', { ...smallDefinition(), version: 1.5 }],
    ['version beyond u32', { ...smallDefinition(), version: 2 ** 32 }],
    ['no questions', { ...smallDefinition(), questions: [] }],
  ])('rejects %s', (_name, input) => {
    expect(errorOf(input).code).toBe('invalid');
  });

  const mutate = (f: (qs: Record<string, unknown>[]) => void) => {
    const d = smallDefinition();
    f(d.questions as Record<string, unknown>[]);
    return d;
  };

  it('reports where a question is wrong', () => {
    const e = errorOf(mutate((qs) => (qs[2].type = 'date')));
    expect(e.path).toBe('questions[2].type');
  });

  it.each([
    ['a duplicate id', (qs: Record<string, unknown>[]) => (qs[1].id = 'a')],
    ['an unknown key (typo in skip logic)', (qs: Record<string, unknown>[]) => (qs[1].showif = qs[1].showIf)],
    ['a missing English label', (qs: Record<string, unknown>[]) => (qs[0].label = { fr: 'Oui' })],
    ['a duplicate option code', (qs: Record<string, unknown>[]) => ((qs[0].options as unknown[]).push({ code: 'yes', label: { fr: 'x', en: 'x' } }))],
    ['min greater than max', (qs: Record<string, unknown>[]) => (qs[2].min = 11)],
    ['a text without maxLength', (qs: Record<string, unknown>[]) => delete qs[4].maxLength],
    ['a condition on a later question', (qs: Record<string, unknown>[]) => (qs[0].showIf = { question: 'b', equals: 'often' })],
    ['a condition on itself', (qs: Record<string, unknown>[]) => (qs[1].showIf = { question: 'b', equals: 'often' })],
    ['a condition with an unknown code', (qs: Record<string, unknown>[]) => (qs[1].showIf = { question: 'a', equals: 'maybe' })],
    ['equals on a multiple-choice question', (qs: Record<string, unknown>[]) => (qs[4].showIf = { question: 'd', equals: 'x' })],
    ['includes on a single-choice question', (qs: Record<string, unknown>[]) => (qs[1].showIf = { question: 'a', includes: 'yes' })],
    ['min on a choice question', (qs: Record<string, unknown>[]) => (qs[1].showIf = { question: 'a', min: 1 })],
    ['an empty all', (qs: Record<string, unknown>[]) => (qs[1].showIf = { all: [] })],
    ['required missing', (qs: Record<string, unknown>[]) => delete qs[0].required],
  ])('rejects %s', (_name, f) => {
    expect(errorOf(mutate(f)).code).toBe('invalid');
  });

  it('accepts combinators over earlier questions', () => {
    const d = mutate((qs) => {
      qs[4].showIf = { any: [{ question: 'd', includes: 'other' }, { not: { question: 'c', min: 2, max: 4 } }, { all: [{ question: 'a', answered: true }] }] };
    });
    expect(parseDefinition(d).questions[4].showIf).toEqual((d.questions as Record<string, unknown>[])[4].showIf);
  });
});
