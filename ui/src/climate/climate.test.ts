import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import kitFile from '../../../shared/kits/canicule.json';
import { climateBackend, CLIMATE_COMMANDS, type ClimateBackend } from './backend';
import ChecklistView from './ChecklistView.svelte';
import ClimateHome from './ClimateHome.svelte';
import KitReader from './KitReader.svelte';
import { currentActions, formatDistance, type Kit, type KitDocument, type Nearby, type Visit, type VolunteerState } from './model';
import NearestPlaces from './NearestPlaces.svelte';

const kit = kitFile as unknown as Kit;

function doc(level: KitDocument['alert']['level'], withKit = true): KitDocument {
  return { kit: withKit ? kit : null, published_at: 1, alert: { level, set_at: 1 }, places: [] };
}

/** The IPC layer, mocked: records every command and answers from `answers`. */
function mockIpc(answers: Record<string, unknown> = {}) {
  const calls: [string, Record<string, unknown> | undefined][] = [];
  const invoke = vi.fn(async (cmd: string, args?: Record<string, unknown>) => {
    calls.push([cmd, args]);
    if (answers[cmd] instanceof Error) throw answers[cmd];
    return answers[cmd];
  }) as unknown as <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;
  return { backend: climateBackend(invoke), calls };
}

describe('climate model', () => {
  it('words distances in French', () => {
    expect(formatDistance(84)).toBe('80 m');
    expect(formatDistance(1630)).toBe('1,6 km');
    expect(formatDistance(12_400)).toBe('12 km');
  });

  it('gives the kit actions of the current level', () => {
    expect(currentActions(doc('rouge'))).toEqual(kit.level_actions.rouge);
    expect(currentActions(doc('rouge', false))).toEqual([]);
  });
});

describe('kit reader', () => {
  it('shows the alert level, its actions and the emergency numbers as phone links', () => {
    render(KitReader, { props: { doc: doc('orange') } });
    expect(screen.getByRole('status').textContent).toContain('Niveau 3 — alerte canicule');
    expect(screen.getByText(kit.level_actions.orange![0])).toBeTruthy();
    expect(screen.getByRole('link', { name: /^15 — SAMU/ }).getAttribute('href')).toBe('tel:15');
    expect(screen.getByRole('link', { name: /^3975/ }).getAttribute('href')).toBe('tel:3975');
  });

  it('says the kit is not there yet instead of showing an empty page', () => {
    render(KitReader, { props: { doc: doc('vert', false) } });
    expect(screen.getByText(/pas encore arrivé/)).toBeTruthy();
  });
});

describe('visit checklist', () => {
  it('sends each tick through IPC and counts ticked items', async () => {
    const { backend, calls } = mockIpc({ [CLIMATE_COMMANDS.tick]: null });
    const visite = kit.checklists.find((c) => c.id === 'visite')!;
    render(ChecklistView, { props: { backend, visitId: 'v1', checklist: visite, ticks: { eau: true } } });
    expect(screen.getByRole('group').textContent).toContain(`(1/${visite.items.length})`);
    await fireEvent.click(screen.getByRole('checkbox', { name: /Volets/ }));
    await waitFor(() => expect(calls).toEqual([['climate_tick', { visitId: 'v1', itemId: 'volets', checked: true }]]));
    expect(screen.getByRole('group').textContent).toContain(`(2/${visite.items.length})`);
  });

  it('unticks the box again and says so when the tick cannot be saved', async () => {
    const { backend } = mockIpc({ [CLIMATE_COMMANDS.tick]: new Error('storage') });
    const visite = kit.checklists.find((c) => c.id === 'visite')!;
    render(ChecklistView, { props: { backend, visitId: 'v1', checklist: visite } });
    const box = screen.getByRole('checkbox', { name: /Volets/ }) as HTMLInputElement;
    await fireEvent.click(box);
    await waitFor(() => expect(screen.getByRole('alert')).toBeTruthy());
    expect(box.checked).toBe(false);
  });
});

describe('nearest places', () => {
  it('asks for the nearest places of the chosen kind and shows distance and hours', async () => {
    const fountain: Nearby = {
      place: { id: '1', kind: 'fountain', name: 'Fontaine Wallace', lat: 48.8674, lon: 2.3636 },
      distance_m: 84,
    };
    const room: Nearby = {
      place: { id: '2', kind: 'cool-room', name: 'Mairie du 11e', lat: 48.859, lon: 2.38, hours: 'lun. : 14:00-18:00' },
      distance_m: 1630,
    };
    const nearestPlaces = vi.fn(async () => [fountain, room]);
    const backend: ClimateBackend = { getState: vi.fn(), startVisit: vi.fn(), getKit: vi.fn(), tick: vi.fn(), handOut: vi.fn(), nearestPlaces };
    render(NearestPlaces, { props: { backend, position: { lat: 48.8674, lon: 2.3636 }, count: 3 } });
    await waitFor(() => expect(screen.getByText('Fontaine Wallace')).toBeTruthy());
    expect(nearestPlaces).toHaveBeenLastCalledWith(48.8674, 2.3636, 3, null);
    expect(screen.getByText(/à 80 m/)).toBeTruthy();
    expect(screen.getByText('Horaires non communiqués')).toBeTruthy();
    expect(screen.getByText('lun. : 14:00-18:00')).toBeTruthy();
    await fireEvent.change(screen.getByLabelText('Type de lieu'), { target: { value: 'cool-room' } });
    await waitFor(() => expect(nearestPlaces).toHaveBeenLastCalledWith(48.8674, 2.3636, 3, 'cool-room'));
  });
});

describe('climate home', () => {
  const visite = kit.checklists.find((c) => c.id === 'visite')!;
  const visit: Visit = {
    id: '0190a0b0-0000-7000-8000-000000000001',
    at: Date.UTC(2026, 6, 1, 10),
    area: '75011',
    checklist_id: 'visite',
    ticks: { eau: true },
    items: {},
    alert: false,
  };
  function volunteer(visits: Visit[]): VolunteerState {
    return {
      device_id: 'device-1',
      server_url: 'https://s.example',
      group_name: 'Belleville',
      field: { group_id: 'g', name: 'Belleville', visits: Object.fromEntries(visits.map((v) => [v.id, v])), handed_out: {} },
    };
  }

  it('shows the kit held on the device, then starts a visit with an arrondissement and a list', async () => {
    const { backend, calls } = mockIpc({
      [CLIMATE_COMMANDS.getKit]: doc('rouge'),
      [CLIMATE_COMMANDS.startVisit]: { ...visit, ticks: {} },
    });
    render(ClimateHome, { props: { backend, volunteer: volunteer([]) } });
    await waitFor(() => expect(screen.getByRole('status').textContent).toContain('Niveau 4'));
    await fireEvent.click(screen.getByRole('button', { name: 'Visites' }));
    expect(screen.getByText('Aucune visite pour l’instant.')).toBeTruthy();
    const startButton = screen.getByRole('button', { name: 'Commencer la visite' }) as HTMLButtonElement;
    expect(startButton.disabled).toBe(true);
    const select = screen.getByLabelText('Arrondissement') as HTMLSelectElement;
    await fireEvent.change(select, { target: { value: '75011' } });
    expect(select.value).toBe('75011');
    await waitFor(() => expect(startButton.disabled).toBe(false));
    await fireEvent.click(startButton);
    await waitFor(() => expect(calls).toContainEqual(['climate_start_visit', { area: '75011', checklistId: 'visite' }]));
  });

  it('lists the group’s visits from every device and opens one on its checklist', async () => {
    const { backend } = mockIpc({ [CLIMATE_COMMANDS.getKit]: doc('orange') });
    render(ClimateHome, { props: { backend, volunteer: volunteer([visit]) } });
    await fireEvent.click(screen.getByRole('button', { name: 'Visites' }));
    await waitFor(() => expect(screen.getByRole('button', { name: /11e arrondissement/ })).toBeTruthy());
    expect(screen.getByText(`${visite.title} : 1/${visite.items.length}`)).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: /11e arrondissement/ }));
    expect(screen.getByRole('group').textContent).toContain(`(1/${visite.items.length})`);
    expect((screen.getByRole('checkbox', { name: /de l'eau à portée/ }) as HTMLInputElement).checked).toBe(true);
  });
});
