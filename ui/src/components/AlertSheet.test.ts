import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import { devBackend } from '../devBackend';
import { newDraft } from '../encounter';
import { app } from '../lib/app.svelte';
import Home from '../screens/Home.svelte';
import AlertSheet from './AlertSheet.svelte';

async function enrolled() {
  const b = devBackend();
  await b.enrol('https://s.example', 'ABCD-1234');
  app.backend = b;
  await app.refresh();
  return b;
}

describe('alert sheet', () => {
  it('offers 15, 18, 112 and 115 as phone links', async () => {
    await enrolled();
    render(AlertSheet, { props: { onclose: () => {} } });
    for (const n of ['15', '18', '112', '115'])
      expect(screen.getByRole('link', { name: new RegExp(`^${n}`) }).getAttribute('href')).toBe(`tel:${n}`);
  });

  it('flags the encounter on screen and hands the flags to its form', async () => {
    const b = await enrolled();
    const d = newDraft('019c0b8e-7a00-7000-8000-0000000000aa', Date.now());
    await b.saveDraft(d);
    app.currentEncounterId = d.id;
    const raise = vi.spyOn(b, 'raiseAlert');
    const onclose = vi.fn();
    render(AlertSheet, { props: { onclose } });
    const send = screen.getByRole('button', { name: 'Enregistrer l’alerte' }) as HTMLButtonElement;
    expect(send.disabled).toBe(true);
    await fireEvent.click(screen.getByRole('checkbox', { name: 'Mineur·e' }));
    await fireEvent.click(send);
    await waitFor(() => expect(onclose).toHaveBeenCalled());
    expect(raise).toHaveBeenCalledWith({ encounterId: d.id, kinds: ['minor'], calledNumber: null });
    expect(app.raisedFlags).toEqual({ id: d.id, kinds: ['minor'] });
    expect((await b.listDrafts())[0].alerts.minor).toBe(true);
    app.currentEncounterId = null;
    app.raisedFlags = null;
  });
});

describe('home: sector covered, nobody found', () => {
  it('asks for confirmation, then records coveredNoneFound', async () => {
    const b = await enrolled();
    const mark = vi.spyOn(b, 'markSectorCovered');
    render(Home);
    await fireEvent.click(screen.getByRole('button', { name: 'Secteur couvert, 0 personne rencontrée' }));
    expect(mark).not.toHaveBeenCalled();
    await fireEvent.click(screen.getByRole('button', { name: 'Confirmer' }));
    await waitFor(() => expect(mark).toHaveBeenCalledWith('S-01-03', true));
    await waitFor(() => expect(screen.getByText(/couvert, 0 personne ·/)).toBeTruthy());
  });

  it('checks in and out of a round', async () => {
    const b = await enrolled();
    render(Home);
    await fireEvent.click(screen.getByRole('button', { name: 'Départ en tournée' }));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Fin de tournée' })).toBeTruthy());
    expect(Object.values((await b.getTeamState())!.team.rounds)).toHaveLength(1);
  });
});
