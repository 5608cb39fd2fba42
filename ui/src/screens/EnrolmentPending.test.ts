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

describe('access revoked by the coordination', () => {
  it('says_what_happened_to_the_device_data_after_the_night_is_closed', async () => {
    const { accessRevokedNotice } = await import('../lib/app.svelte');
    expect(accessRevokedNotice({ outcome: 'erased' })).toContain('effacées de cet appareil');
    expect(accessRevokedNotice({ outcome: 'kept', pending: 1 })).toContain('1 modification n’a pas atteint le serveur : elle reste');
    expect(accessRevokedNotice({ outcome: 'kept', pending: 3 })).toContain('3 modifications n’ont pas atteint le serveur : elles restent');
  });

  it('the access-revoked event shows the notice, drops the toast of an erased record and re-reads the state', async () => {
    const b = devBackend();
    let fire: ((r: { outcome: 'erased' }) => void) | null = null;
    b.onAccessRevoked = async (h) => {
      fire = h as typeof fire;
      return () => undefined;
    };
    const state = new AppState();
    await state.start(b);
    const refresh = vi.spyOn(state, 'refresh');
    state.say('Rencontre enregistrée');
    fire!({ outcome: 'erased' });
    expect(state.notice).toContain('clôturé la nuit');
    expect(state.toast).toBeNull();
    expect(refresh).toHaveBeenCalledOnce();
  });
});
