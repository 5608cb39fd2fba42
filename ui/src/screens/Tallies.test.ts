import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import { devBackend } from '../devBackend';
import { app } from '../lib/app.svelte';
import Tallies from './Tallies.svelte';

describe('Tallies screen', () => {
  it('+ and − add to the counter of the chosen space × sex × age band', async () => {
    const b = devBackend();
    await b.enrol('https://s.example', 'ABCD-1234');
    app.backend = b;
    await app.refresh();
    const add = vi.spyOn(b, 'addToTally');
    render(Tallies);
    await fireEvent.change(screen.getByLabelText('Type d’espace'), { target: { value: 'woods' } });
    await fireEvent.click(screen.getByRole('tab', { name: /Femme/ }));
    await fireEvent.click(screen.getByRole('button', { name: '65 + +1' }));
    await fireEvent.click(screen.getByRole('button', { name: '65 + +1' }));
    await fireEvent.click(screen.getByRole('button', { name: '65 + −1' }));
    await waitFor(() => expect(add).toHaveBeenCalledTimes(3));
    expect(add.mock.calls).toEqual([
      ['woods:female:from65', 1],
      ['woods:female:from65', 1],
      ['woods:female:from65', -1],
    ]);
    await waitFor(async () => expect((await b.getTeamState())!.team.tallies['woods:female:from65']).toBe(1));
    expect(screen.getByRole('tab', { name: /Femme/ }).textContent).toMatch(/1/);
    // Never below zero: the − button is disabled at 0.
    expect((screen.getByRole('button', { name: '< 18 −1' }) as HTMLButtonElement).disabled).toBe(true);
  });
});
