// The encounter form autosaves every change (debounced saveDraft) and records a complete draft.
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { devBackend, type DevBackend } from '../devBackend';
import { newDraft } from '../encounter';
import { app } from '../lib/app.svelte';
import { uuidV7 } from '../model';
import EncounterForm from './EncounterForm.svelte';

let backend: DevBackend;

beforeEach(async () => {
  backend = devBackend();
  await backend.enrol('https://s.example', 'ABCD-1234');
  app.backend = backend;
  await app.refresh();
});

async function openDraft() {
  const d = newDraft(uuidV7(Date.now(), new Uint8Array(10).fill(3)), Date.now());
  await backend.saveDraft(d);
  render(EncounterForm, { props: { draft: d, autosaveMs: 20 } });
  return d;
}

describe('EncounterForm', () => {
  it('autosaves each change to the draft without any explicit save', async () => {
    const save = vi.spyOn(backend, 'saveDraft');
    const d = await openDraft();
    await fireEvent.click(screen.getByRole('radio', { name: 'Parking' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Femmes +1' }));
    await fireEvent.input(screen.getByLabelText(/Précision du lieu/), { target: { value: 'Niveau -2' } });
    await waitFor(async () => {
      const [stored] = await backend.listDrafts();
      expect(stored).toMatchObject({ id: d.id, spaceType: 'carPark', placeDetail: 'Niveau -2', counts: { women: 1 } });
    });
    // Debounced: three quick changes, not three saves each carrying a partial state.
    expect(save.mock.calls.length).toBeLessThanOrEqual(2);
  });

  it('shows the questionnaire only for an accepted interview, observations only otherwise', async () => {
    await openDraft();
    expect(screen.queryByRole('radiogroup', { name: 'Sexe observé' })).toBeNull();
    await fireEvent.click(screen.getByRole('radio', { name: 'Refusé' }));
    expect(screen.getByRole('radiogroup', { name: 'Sexe observé' })).toBeTruthy();
    expect(screen.queryByRole('radiogroup', { name: 'Vous êtes…' })).toBeNull();
    await fireEvent.click(screen.getByRole('radio', { name: 'Accepté' }));
    expect(screen.queryByRole('radiogroup', { name: 'Sexe observé' })).toBeNull();
    expect(screen.getByRole('radiogroup', { name: 'Vous êtes…' })).toBeTruthy();
  });

  it('records a complete encounter, and says what is missing before', async () => {
    const d = await openDraft();
    await fireEvent.click(screen.getByRole('button', { name: 'Enregistrer la rencontre' }));
    expect(screen.getByRole('alert').textContent).toMatch(/À compléter/);
    await fireEvent.click(screen.getByRole('radio', { name: 'Rue' }));
    await fireEvent.click(screen.getByRole('radio', { name: 'Tente' }));
    await fireEvent.click(screen.getByRole('radio', { name: 'Seul·e' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Hommes +1' }));
    await fireEvent.click(screen.getByRole('radio', { name: 'Endormi·e (ne pas réveiller)' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Enregistrer la rencontre' }));
    await waitFor(async () => {
      const list = await backend.listEncounters();
      expect(list.map((r) => r.encounter.id)).toEqual([d.id]);
      expect(list[0].encounter).toMatchObject({ spaceType: 'street', interview: 'asleep', counts: { men: 1 }, answers: {} });
    });
    expect(await backend.listDrafts()).toEqual([]);
  });
});
