// The coordinator mode's UI over a mocked IPC (the real @tauri-apps/api invoke with mockIPC).
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { invokeCommand } from '../platform';
import {
  coordinatorBackend,
  COORDINATOR_COMMANDS as C,
  type Consolidation,
  type DuplicateCandidate,
  type Progress,
  type SectorProgress,
} from './backend';
import Coordinator from './Coordinator.svelte';
import { percent, sectorStatus, since, sortSectors, svgDataUrl } from './model';

afterEach(() => {
  clearMocks();
  vi.useRealTimers();
});

function sector(id: string, state: SectorProgress['state'], persons = 0, minutes: number | null = null): SectorProgress {
  return { sectorId: id, name: id, arrondissement: 1, state, teams: ['t1'], encounters: persons, persons, lastChangeAt: null, minutesSinceChange: minutes };
}

function progress(sectors: SectorProgress[]): Progress {
  const persons = sectors.reduce((n, s) => n + s.persons, 0);
  return {
    night_id: 'n1',
    night_name: 'Nuit test',
    generatedAt: 0,
    silentAfterMinutes: 30,
    sectors,
    teams: [{ teamId: 't1', name: 'Équipe 1', readable: true, sectors: ['P1'], out: true, encounters: 1, persons, tallied: 0, lastChangeAt: null, minutesSinceChange: null }],
    totals: { sectors: {}, encounters: 1, persons, tallied: 0, unplacedPersons: 0, teams: 1, teamsOut: 1, unreadableTeams: 0 },
  };
}

const line = (key: string, label: string, persons: number, women: number) => ({ key, label, persons, women, men: persons - women, unknownSex: 0, children: 0 });

const figures: Consolidation = {
  nightId: 'n1',
  totals: { persons: 7, men: 6, women: 1, unknownSex: 0, children: 0 },
  pregnantWomen: 0,
  encounters: 5,
  talliedPersons: 0,
  partnerPersons: 0,
  shareOfWomen: 1 / 7,
  questionnairesCompleted: 1,
  questionnaireRate: 1 / 7,
  byArea: [
    { ...line('paris-centre', 'Paris Centre (1er–4e)', 5, 1), encounters: 3, questionnaires: 1 },
    { ...line('75005', '5e', 0, 0), encounters: 0, questionnaires: 0 },
    { ...line('75011', '11e', 2, 0), encounters: 2, questionnaires: 0 },
  ],
  bySpaceType: [line('street', 'Rue', 7, 1)],
  byAgeBand: [],
  bySituation: [],
  byInterview: [],
  excluded: { withdrawnEncounters: 0, withdrawnPersons: 0, duplicateEncounters: 1, duplicatePersons: 1 },
  teams: { consolidated: 1, unreadable: [], missing: [] },
};

const candidate: DuplicateCandidate = {
  pair: 'a+b', reason: '22 m et 5 min d’écart', first: 'a', second: 'b', firstTeam: 't1', secondTeam: 't2',
  distanceM: 22, minutesApart: 5, composition: 'same', score: 0.9, decision: null,
};

/** A server seen through the Rust commands: answers per command, every call recorded. */
function ipc(answers: Record<string, (args: Record<string, unknown>) => unknown>) {
  const calls: [string, Record<string, unknown>][] = [];
  mockIPC((cmd, args) => {
    const a = (args ?? {}) as Record<string, unknown>;
    calls.push([cmd, a]);
    const f = answers[cmd];
    if (!f) throw { code: 'serverError', message: `no mock for ${cmd}` };
    return f(a);
  });
  return { backend: coordinatorBackend(invokeCommand), calls };
}

describe('coordinator model', () => {
  it('words sector states as the table shows them', () => {
    expect(sectorStatus(sector('A', 'covered', 3))).toBe('Couvert — 3 personnes');
    expect(sectorStatus(sector('A', 'coveredNoneFound'))).toBe('Couvert — 0 personne');
    expect(sectorStatus(sector('A', 'silent', 1, 42))).toBe('Sans nouvelles depuis 42 min');
    expect(sectorStatus(sector('A', 'notStarted'))).toBe('Non commencé');
    expect(since(null)).toBe('jamais');
    expect(since(75)).toBe('il y a 1 h 15');
    expect(percent(1 / 7)).toMatch(/^14,3\s%$/);
    expect(percent(null)).toBe('—');
  });

  it('puts silent sectors first and keeps the SVG as an image URL', () => {
    const order = sortSectors([sector('B', 'covered'), sector('A', 'notStarted'), sector('C', 'silent')]).map((s) => s.sectorId);
    expect(order).toEqual(['C', 'A', 'B']);
    expect(svgDataUrl('<svg a="1"/>')).toBe('data:image/svg+xml;charset=utf-8,%3Csvg%20a%3D%221%22%2F%3E');
  });
});

describe('coordinator mode', () => {
  it('signs in, shows the progress table and map, and refreshes on its own', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let current = progress([sector('P1', 'inProgress', 1)]);
    const { backend, calls } = ipc({
      [C.session]: () => null,
      [C.signIn]: () => ({ serverUrl: 'http://127.0.0.1:1', nightId: 'n1', nightName: 'Nuit test', peerId: 'coordinator-1' }),
      [C.progress]: () => current,
      [C.progressMap]: () => '<svg/>',
    });
    render(Coordinator, { props: { backend, onleave: () => {}, refreshMs: 10_000 } });
    await fireEvent.input(await screen.findByLabelText('Adresse du serveur'), { target: { value: 'http://127.0.0.1:1' } });
    await fireEvent.input(screen.getByLabelText('Jeton de coordination'), { target: { value: 'carnet_secret' } });
    await fireEvent.submit(screen.getByRole('button', { name: 'Se connecter' }).closest('form')!);
    expect(await screen.findByTestId('night-name')).toHaveProperty('textContent', 'Nuit test');
    await waitFor(() => expect(document.querySelector('tr[data-sector="P1"]')?.textContent).toContain('En cours — 1 personne'));
    expect(document.querySelector('img.map')?.getAttribute('src')).toMatch(/^data:image\/svg\+xml/);
    expect(calls.find(([c]) => c === C.signIn)).toEqual([C.signIn, { serverUrl: 'http://127.0.0.1:1', token: 'carnet_secret' }]);

    current = progress([sector('P1', 'covered', 4)]);
    await vi.advanceTimersByTimeAsync(10_000);
    await waitFor(() => expect(document.querySelector('tr[data-sector="P1"]')?.getAttribute('data-state')).toBe('covered'));
    expect(document.querySelector('tr[data-sector="P1"]')?.textContent).toContain('Couvert — 4 personnes');
    expect(calls.filter(([c]) => c === C.progress).length).toBeGreaterThanOrEqual(2);
  });

  it('words a refused token in French and stays on the sign-in form', async () => {
    const { backend } = ipc({
      [C.session]: () => null,
      [C.signIn]: () => {
        throw { code: 'unauthorized', message: 'the server refused the token' };
      },
    });
    render(Coordinator, { props: { backend, onleave: () => {} } });
    await fireEvent.input(await screen.findByLabelText('Adresse du serveur'), { target: { value: 'http://x' } });
    await fireEvent.input(screen.getByLabelText('Jeton de coordination'), { target: { value: 't' } });
    await fireEvent.submit(screen.getByRole('button', { name: 'Se connecter' }).closest('form')!);
    expect((await screen.findByRole('alert')).textContent).toContain('Jeton refusé');
    expect(screen.queryByTestId('night-name')).toBeNull();
  });

  it('shows the totals and decides a duplicate through IPC', async () => {
    let decided: string | null = null;
    const { backend, calls } = ipc({
      [C.session]: () => ({ serverUrl: 'http://x', nightId: 'n1', nightName: 'Nuit test', peerId: 'c' }),
      [C.progress]: () => progress([]),
      [C.progressMap]: () => '<svg/>',
      [C.consolidation]: () => figures,
      [C.duplicates]: () => ({ config: { maxDistanceM: 150, maxGapMs: 2_700_000 }, candidates: [{ ...candidate, decision: decided }] }),
      [C.decideDuplicate]: (a) => {
        decided = a.verdict as string;
        return { first: 'a', second: 'b', verdict: a.verdict, decidedBy: 'c', decidedAt: 1 };
      },
    });
    render(Coordinator, { props: { backend, onleave: () => {} } });
    await fireEvent.click(await screen.findByRole('button', { name: 'Totaux' }));
    expect((await screen.findByTestId('total-persons')).textContent).toBe('7');
    expect(screen.getByTestId('share-women').textContent).toMatch(/^14,3\s%$/);
    expect(document.querySelector('tr[data-key="paris-centre"]')?.textContent).toContain('Paris Centre');
    expect(document.querySelector('tr[data-key="75005"]'), 'lines with nobody are left out').toBeNull();

    await fireEvent.click(screen.getByRole('button', { name: 'Doublons' }));
    const card = await waitFor(() => {
      const el = document.querySelector('li[data-pair="a+b"]');
      if (!el) throw new Error('no card');
      return el;
    });
    expect(card.textContent).toContain('Équipe 1');
    await fireEvent.click(screen.getByRole('button', { name: 'Confirmer le doublon' }));
    await waitFor(() => expect(document.querySelector('li[data-pair="a+b"]')?.getAttribute('data-decision')).toBe('confirmed'));
    expect(calls.find(([c]) => c === C.decideDuplicate)).toEqual([C.decideDuplicate, { first: 'a', second: 'b', verdict: 'confirmed' }]);
  });
});
