import { describe, expect, it } from 'vitest';
import type { Answers } from '../model';
import { parseDefinition } from './definition';
import { defaultDefinition, smallDefinition } from './fixtures';
import { checkAnswer, pruneAnswers, setAnswer, validateAnswers, visibleQuestions } from './logic';

const small = () => parseDefinition(smallDefinition());
const ids = (a: Answers, def = small()) => visibleQuestions(def, a).map((q) => q.id);
const choice = (value: string) => ({ kind: 'choice', value }) as const;

describe('skip logic', () => {
  it('shows a branch only when its condition holds, transitively', () => {
    expect(ids({})).toEqual(['a', 'd']);
    expect(ids({ a: choice('yes') })).toEqual(['a', 'b', 'd']);
    expect(ids({ a: choice('yes'), b: choice('often') })).toEqual(['a', 'b', 'c', 'd']);
    // b is still answered "often" but hidden again: c must go with it.
    expect(ids({ a: choice('no'), b: choice('often') })).toEqual(['a', 'd']);
  });

  it('treats "doesn\'t know" and "declines" as no value', () => {
    expect(ids({ a: { kind: 'doesNotKnow' } })).toEqual(['a', 'd']);
    expect(ids({ a: { kind: 'declines' } })).toEqual(['a', 'd']);
  });

  it('includes looks inside a multiple choice', () => {
    expect(ids({ d: { kind: 'choices', value: ['x'] } })).toEqual(['a', 'd']);
    expect(ids({ d: { kind: 'choices', value: ['x', 'other'] } })).toEqual(['a', 'd', 'e']);
  });

  it('evaluates all / any / not / answered / numeric ranges', () => {
    const raw = smallDefinition();
    const qs = raw.questions as Record<string, unknown>[];
    qs[3].showIf = { any: [{ not: { question: 'a', answered: true } }, { all: [{ question: 'c', min: 3, max: 5 }] }] };
    const def = parseDefinition(raw);
    expect(ids({}, def)).toContain('d');
    expect(ids({ a: choice('no') }, def)).not.toContain('d');
    const base: Answers = { a: choice('yes'), b: choice('often') };
    expect(ids({ ...base, c: { kind: 'number', value: 2 } }, def)).not.toContain('d');
    expect(ids({ ...base, c: { kind: 'number', value: 4 } }, def)).toContain('d');
    expect(ids({ ...base, c: { kind: 'number', value: 6 } }, def)).not.toContain('d');
  });

  it('default questionnaire: 115 reasons only for people who never called', () => {
    const def = defaultDefinition();
    const never = ids({ called115: choice('never') }, def);
    expect(never).toContain('whyNot115');
    expect(never).not.toContain('call115Outcome');
    const called = ids({ called115: choice('lastWeek') }, def);
    expect(called).not.toContain('whyNot115');
    expect(called).toContain('call115Outcome');
    expect(ids({}, def)).not.toContain('whyNot115');
  });
});

describe('pruning', () => {
  it('drops answers of questions that became hidden, keeps the rest', () => {
    const def = small();
    let a: Answers = {};
    a = setAnswer(def, a, 'a', choice('yes'));
    a = setAnswer(def, a, 'b', choice('often'));
    a = setAnswer(def, a, 'c', { kind: 'number', value: 3 });
    a = setAnswer(def, a, 'd', { kind: 'choices', value: ['x'] });
    expect(Object.keys(a).sort()).toEqual(['a', 'b', 'c', 'd']);
    a = setAnswer(def, a, 'a', choice('no'));
    expect(a).toEqual({ a: choice('no'), d: { kind: 'choices', value: ['x'] } });
  });

  it('clearing an answer prunes its branch and removes unknown question ids', () => {
    const def = small();
    const a = setAnswer(def, { a: choice('yes'), b: choice('rarely'), zz: choice('q') }, 'a', null);
    expect(a).toEqual({});
    expect(pruneAnswers(def, { zz: { kind: 'declines' } })).toEqual({});
  });
});

describe('answer validation', () => {
  it('requires visible required questions; "doesn\'t know" counts as an answer', () => {
    const def = small();
    expect(validateAnswers(def, {})).toEqual([{ questionId: 'a', code: 'required' }]);
    expect(validateAnswers(def, { a: { kind: 'doesNotKnow' } })).toEqual([]);
    expect(validateAnswers(def, { a: choice('yes') })).toEqual([{ questionId: 'b', code: 'required' }]);
  });

  it('checks integer bounds, codes, kinds, exclusivity and length', () => {
    const def = small();
    const q = (id: string) => def.questions.find((x) => x.id === id)!;
    expect(checkAnswer(q('c'), { kind: 'number', value: 0 })).toBe('belowMin');
    expect(checkAnswer(q('c'), { kind: 'number', value: 11 })).toBe('aboveMax');
    expect(checkAnswer(q('c'), { kind: 'number', value: 1.5 })).toBe('notInteger');
    expect(checkAnswer(q('c'), { kind: 'number', value: 10 })).toBeNull();
    expect(checkAnswer(q('c'), choice('yes'))).toBe('wrongKind');
    expect(checkAnswer(q('a'), choice('maybe'))).toBe('unknownOption');
    expect(checkAnswer(q('d'), { kind: 'choices', value: [] })).toBe('empty');
    expect(checkAnswer(q('d'), { kind: 'choices', value: ['x', 'x'] })).toBe('duplicateOption');
    expect(checkAnswer(q('d'), { kind: 'choices', value: ['x', 'nope'] })).toBe('unknownOption');
    expect(checkAnswer(q('d'), { kind: 'choices', value: ['x', 'none'] })).toBe('exclusiveCombined');
    expect(checkAnswer(q('d'), { kind: 'choices', value: ['none'] })).toBeNull();
    expect(checkAnswer(q('d'), undefined)).toBeNull();
    expect(checkAnswer(q('e'), { kind: 'text', value: 'abcdef' })).toBe('tooLong');
    // Code points, not UTF-16 units: five emoji fit in maxLength 5.
    expect(checkAnswer(q('e'), { kind: 'text', value: '🙂🙂🙂🙂🙂' })).toBeNull();
  });

  it('reports answers to hidden or unknown questions', () => {
    const def = small();
    const issues = validateAnswers(def, { a: choice('no'), b: choice('often'), zz: choice('x') });
    expect(issues).toContainEqual({ questionId: 'b', code: 'hiddenQuestion' });
    expect(issues).toContainEqual({ questionId: 'zz', code: 'unknownQuestion' });
  });

  it('a fully answered default questionnaire is valid', () => {
    const def = defaultDefinition();
    let a: Answers = {};
    for (let i = 0; i < 3; i++)
      for (const q of visibleQuestions(def, a)) if (!a[q.id]) a = setAnswer(def, a, q.id, { kind: 'declines' });
    expect(validateAnswers(def, a)).toEqual([]);
    expect(Object.keys(a).length).toBeGreaterThan(10);
  });
});
