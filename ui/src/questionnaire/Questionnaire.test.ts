// Rendering a questionnaire from a definition and answering through it, in happy-dom.
import { fireEvent, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import { flushSync } from 'svelte';
import { setLang } from '../lib/i18n.svelte';
import type { Answers } from '../model';
import { parseDefinition } from './definition';
import { defaultDefinition, smallDefinition } from './fixtures';
import Questionnaire from './Questionnaire.svelte';

afterEach(() => setLang('fr'));

function mountQ(def = parseDefinition(smallDefinition()), showIssues = false) {
  const state: { answers: Answers } = { answers: {} };
  const onchange = (a: Answers) => {
    state.answers = a;
    void r.rerender({ definition: def, answers: a, onchange, showIssues });
  };
  const r = render(Questionnaire, { props: { definition: def, answers: state.answers, onchange, showIssues } });
  return state;
}

const question = (name: RegExp) => screen.queryByRole('radiogroup', { name }) ?? screen.queryByRole('group', { name });

describe('Questionnaire rendering', () => {
  it('shows only visible questions, in French, each with "doesn\'t know" and "declines"', () => {
    mountQ();
    expect(question(/A \(fr\)/)).not.toBeNull();
    expect(question(/B \(fr\)/)).toBeNull();
    expect(question(/D \(fr\)/)).not.toBeNull();
    expect(screen.getAllByRole('button', { name: 'Ne sait pas' })).toHaveLength(2);
    expect(screen.getAllByRole('button', { name: 'Ne souhaite pas répondre' })).toHaveLength(2);
  });

  it('answering opens the branch, changing the answer closes it and prunes its answers', async () => {
    const state = mountQ();
    await fireEvent.click(screen.getByRole('radio', { name: 'Yes (fr)' }));
    expect(state.answers).toEqual({ a: { kind: 'choice', value: 'yes' } });
    await fireEvent.click(screen.getByRole('radio', { name: 'Often (fr)' }));
    const c = await screen.findByLabelText('C (fr)');
    await fireEvent.input(c, { target: { value: '3' } });
    expect(state.answers.c).toEqual({ kind: 'number', value: 3 });
    await fireEvent.click(screen.getByRole('radio', { name: 'No (fr)' }));
    expect(state.answers).toEqual({ a: { kind: 'choice', value: 'no' } });
    expect(screen.queryByLabelText('C (fr)')).toBeNull();
    expect(question(/B \(fr\)/)).toBeNull();
  });

  it('an exclusive option replaces the others and the others replace it', async () => {
    const state = mountQ();
    await fireEvent.click(screen.getByRole('checkbox', { name: 'X (fr)' }));
    await fireEvent.click(screen.getByRole('checkbox', { name: 'Other (fr)' }));
    expect(state.answers.d).toEqual({ kind: 'choices', value: ['x', 'other'] });
    expect(screen.getByLabelText('E (fr)')).toBeTruthy();
    await fireEvent.click(screen.getByRole('checkbox', { name: 'None (fr)' }));
    expect(state.answers.d).toEqual({ kind: 'choices', value: ['none'] });
    expect(screen.queryByLabelText('E (fr)')).toBeNull();
    await fireEvent.click(screen.getByRole('checkbox', { name: 'X (fr)' }));
    expect(state.answers.d).toEqual({ kind: 'choices', value: ['x'] });
  });

  it('"doesn\'t know" is an answer and toggles off', async () => {
    const state = mountQ();
    const [dk] = screen.getAllByRole('button', { name: 'Ne sait pas' });
    await fireEvent.click(dk);
    expect(state.answers.a).toEqual({ kind: 'doesNotKnow' });
    expect(dk.getAttribute('aria-pressed')).toBe('true');
    await fireEvent.click(dk);
    expect(state.answers.a).toBeUndefined();
  });

  it('shows issues in words when asked to', () => {
    mountQ(parseDefinition(smallDefinition()), true);
    expect(screen.getByRole('alert').textContent).toMatch(/Réponse attendue/);
  });

  it('renders the default questionnaire in English and walks the 115 branch', async () => {
    setLang('en');
    flushSync();
    const state = mountQ(defaultDefinition());
    expect(question(/Have you called 115/)).not.toBeNull();
    expect(question(/Why don't you call 115/)).toBeNull();
    await fireEvent.click(screen.getByRole('radio', { name: 'No, never' }));
    expect(question(/Why don't you call 115/)).not.toBeNull();
    await fireEvent.click(screen.getByRole('radio', { name: 'Yes, this week' }));
    expect(question(/Why don't you call 115/)).toBeNull();
    expect(question(/did you get a place/)).not.toBeNull();
    expect(state.answers.called115).toEqual({ kind: 'choice', value: 'lastWeek' });
  });
});
