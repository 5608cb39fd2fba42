// The volunteer's items handed out on a visit, over a mocked IPC.
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import { climateBackend, CLIMATE_COMMANDS } from './backend';
import Handouts from './Handouts.svelte';
import type { Field, Visit } from './model';

const visit: Visit = { id: 'v1', at: 1, area: '75011', checklist_id: 'visite', ticks: {}, items: { depliant: 1 }, alert: false };

function field(items: Visit['items'], totals: Field['handed_out']): Field {
  return { group_id: 'g', name: 'Belleville', visits: { v1: { ...visit, items } }, handed_out: totals };
}

describe('items handed out', () => {
  it('sends +1 and −1 for the open visit and shows the counts the device answers', async () => {
    const calls: unknown[] = [];
    const answers = [field({ depliant: 1, eau: 1 }, { eau: 4, depliant: 3 }), field({ depliant: 0 }, { eau: 4, depliant: 2 })];
    const invoke = vi.fn(async (cmd: string, args?: Record<string, unknown>) => {
      calls.push([cmd, args]);
      return answers.shift();
    }) as unknown as <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;
    render(Handouts, { props: { backend: climateBackend(invoke), visit, totals: { eau: 3, depliant: 3 } } });
    const row = (kind: string) => document.querySelector(`li[data-handout='${kind}']`)!;
    expect(row('eau').getAttribute('data-count')).toBe('0');
    expect((screen.getByRole('button', { name: 'Retirer : Bouteilles d’eau' }) as HTMLButtonElement).disabled).toBe(true);
    expect(row('eau').textContent).toContain('groupe : 3');

    await fireEvent.click(screen.getByRole('button', { name: 'Ajouter : Bouteilles d’eau' }));
    await waitFor(() => expect(row('eau').getAttribute('data-count')).toBe('1'));
    expect(row('eau').textContent).toContain('groupe : 4');
    await fireEvent.click(screen.getByRole('button', { name: 'Retirer : Dépliants' }));
    await waitFor(() => expect(row('depliant').getAttribute('data-count')).toBe('0'));
    expect(calls).toEqual([
      [CLIMATE_COMMANDS.handOut, { visitId: 'v1', kind: 'eau', delta: 1 }],
      [CLIMATE_COMMANDS.handOut, { visitId: 'v1', kind: 'depliant', delta: -1 }],
    ]);
  });

  it('keeps the count and says so when the device refuses', async () => {
    const invoke = vi.fn(async () => {
      throw { code: 'invalidInput', message: 'nothing to take back' };
    }) as unknown as <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;
    render(Handouts, { props: { backend: climateBackend(invoke), visit, totals: {} } });
    await fireEvent.click(screen.getByRole('button', { name: 'Retirer : Dépliants' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('Rien à retirer'));
    expect(document.querySelector("li[data-handout='depliant']")!.getAttribute('data-count')).toBe('1');
  });
});
