import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import { devBackend } from '../devBackend';
import { AppState } from '../lib/app.svelte';
import { app } from '../lib/app.svelte';
import Enrolment from './Enrolment.svelte';
import EnrolmentPending from './EnrolmentPending.svelte';

describe('enrolment whose documents are late', () => {
  it('spent_code_with_late_documents_shows_waiting_state_not_an_error', async () => {
    const b = devBackend();
    await app.start(b);
    const onpending = vi.fn();
    render(Enrolment, { onpending });
    await fireEvent.input(screen.getByLabelText('Adresse du serveur'), { target: { value: 'https://s.example' } });
    await fireEvent.input(screen.getByLabelText('Code d’inscription'), { target: { value: 'WAIT-0000' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Rejoindre' }));
    await waitFor(() => expect(onpending).toHaveBeenCalledOnce());
    // No error to retry: retrying would only say "code already used".
    expect(screen.queryByRole('alert')).toBeNull();
    expect(app.team).toBeNull();
    expect(app.pendingEnrolment).toEqual({ kind: 'team', name: 'Équipe 42', serverUrl: 'https://s.example/' });
  });

  it('documents_arriving_after_enrolment_end_the_waiting_state_without_relaunch', async () => {
    const b = devBackend();
    const state = new AppState();
    await state.start(b);
    await expect(b.enrol('https://s.example', 'WAIT-0000')).rejects.toMatchObject({ code: 'enrolmentPending' });
    await state.refresh();
    expect(state.pendingEnrolment?.name).toBe('Équipe 42');
    b.syncNow();
    await waitFor(() => expect(state.team?.team.name).toBe('Équipe 42'));
    expect(state.pendingEnrolment).toBeNull();
  });

  it('the waiting screen names the team and the server, retries now, and offers another code', async () => {
    const b = devBackend();
    app.backend = b;
    const retry = vi.spyOn(b, 'reconnectNow');
    const onothercode = vi.fn();
    render(EnrolmentPending, {
      enrolment: { kind: 'team', name: 'Équipe 7', serverUrl: 'https://carnet.paris.fr' },
      onothercode,
    });
    expect(screen.getByRole('heading').textContent).toBe('Inscription enregistrée');
    expect(document.body.textContent).toContain('« Équipe 7 » sur carnet.paris.fr');
    await fireEvent.click(screen.getByRole('button', { name: 'Réessayer maintenant' }));
    expect(retry).toHaveBeenCalledOnce();
    await fireEvent.click(screen.getByRole('button', { name: 'Utiliser un autre code' }));
    expect(onothercode).toHaveBeenCalledOnce();
  });
});
