// The after-the-night screens (exports with progress, conflicts, purge) over a mocked IPC: the
// real @tauri-apps/api invoke with mockIPC, and progress events through the backend's
// subscription hook.
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import { invokeCommand } from '../platform';
import { coordinatorBackend, COORDINATOR_COMMANDS as C, EXPORT_PROGRESS_EVENT, type Conflict, type ExportProgress, type Subscribe } from './backend';
import Coordinator from './Coordinator.svelte';
import { exportFraction, fieldLabel, progressText, sameEdit, valueText } from './after';

afterEach(() => clearMocks());

const session = { serverUrl: 'http://x', nightId: 'n1', nightName: 'Nuit test', peerId: 'c' };
const progressAnswer = {
  night_id: 'n1', night_name: 'Nuit test', generatedAt: 0, silentAfterMinutes: 30, sectors: [],
  teams: [{ teamId: 't1', name: 'Équipe 1', readable: true, sectors: [], out: true, encounters: 0, persons: 0, tallied: 0, lastChangeAt: null, minutesSinceChange: null }],
  totals: { sectors: {}, encounters: 0, persons: 0, tallied: 0, unplacedPersons: 0, teams: 1, teamsOut: 1, unreadableTeams: 0 },
};

/** Commands answered per name (every call recorded) and events pushed by the test. */
function ipc(answers: Record<string, (args: Record<string, unknown>) => unknown>) {
  const calls: [string, Record<string, unknown>][] = [];
  const handlers = new Map<string, (p: unknown) => void>();
  mockIPC(async (cmd, args) => {
    const a = (args ?? {}) as Record<string, unknown>;
    calls.push([cmd, a]);
    const f = answers[cmd];
    if (!f) throw { code: 'serverError', message: `no mock for ${cmd}` };
    return f(a);
  });
  const subscribe: Subscribe = async (event, handler) => {
    handlers.set(event, handler as (p: unknown) => void);
    return () => handlers.delete(event);
  };
  const emit = (event: string, payload: unknown) => handlers.get(event)?.(payload);
  return { backend: coordinatorBackend(invokeCommand, subscribe), calls, emit };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const at = (exportId: string, rows: number, done = false): ExportProgress => ({ exportId, bytes: rows * 100, totalBytes: null, rows, totalRows: 40, done });

describe('after-the-night wording', () => {
  it('computes the export bar from rows, else bytes, else none', () => {
    expect(exportFraction(at('a', 10))).toBe(0.25);
    expect(exportFraction({ ...at('a', 10), totalRows: null, totalBytes: 4000 })).toBe(0.25);
    expect(exportFraction({ ...at('a', 10), totalRows: null })).toBeNull();
    expect(exportFraction({ ...at('a', 10), totalRows: null, done: true })).toBe(1);
    expect(progressText(at('a', 12))).toBe('12 lignes sur 40 · 1,2 Ko');
  });

  it('names fields and values in French', () => {
    expect(fieldLabel('men')).toBe('Hommes');
    expect(fieldLabel('answers.q1')).toBe('Réponse à « q1 »');
    expect(valueText({ field: 'men', value: 3 })).toBe('3');
    expect(valueText({ field: 'alertMinor', value: true })).toBe('oui');
    expect(valueText({ field: 'position', value: null })).toBe('(vide)');
    expect(valueText({ field: 'answer', value: { questionId: 'q1', answer: 'oui' } })).toBe('oui');
    expect(sameEdit({ field: 'men', value: 3 }, { field: 'men', value: 3 })).toBe(true);
    expect(sameEdit(null, { field: 'men', value: 3 })).toBe(false);
  });
});

describe('coordinator after the night', () => {
  it('exports with a progress bar, shows the file path, and words a cancel', async () => {
    const answer = deferred<unknown>();
    const { backend, calls, emit } = ipc({
      [C.session]: () => session,
      [C.progress]: () => progressAnswer,
      [C.progressMap]: () => '<svg/>',
      [C.exportFile]: () => answer.promise,
      [C.cancelExport]: () => true,
    });
    render(Coordinator, { props: { backend, onleave: () => {} } });
    await fireEvent.click(await screen.findByRole('button', { name: 'Exports' }));
    const card = await waitFor(() => document.querySelector('li[data-export="encounters"]') ?? Promise.reject(new Error('no card')));
    await fireEvent.click(card.querySelector('button')!);
    await waitFor(() => expect(calls.some(([c]) => c === C.exportFile)).toBe(true));
    const [, args] = calls.find(([c]) => c === C.exportFile)!;
    expect(args).toMatchObject({ kind: 'encounters', precision: null });
    const id = args.exportId as string;

    emit(EXPORT_PROGRESS_EVENT, at('another-export', 39));
    emit(EXPORT_PROGRESS_EVENT, at(id, 10));
    await waitFor(() => expect(screen.getByTestId('export-progress').textContent).toContain('10 lignes sur 40'));
    expect(document.querySelector('progress')?.getAttribute('value')).toBe('0.25');

    await fireEvent.click(screen.getByRole('button', { name: 'Annuler l’export' }));
    expect(calls.find(([c]) => c === C.cancelExport)?.[1]).toEqual({ exportId: id });
    answer.reject({ code: 'cancelled', message: 'the export was cancelled' });
    expect((await screen.findByRole('alert')).textContent).toContain('Export annulé');
    expect(screen.queryByTestId('export-progress')).toBeNull();

    // Again, the GeoJSON at a chosen precision, to the end.
    const second = deferred<unknown>();
    answers(C.exportFile, () => second.promise);
    await fireEvent.change(screen.getByLabelText('Précision des positions'), { target: { value: '2' } });
    await fireEvent.click(document.querySelector('li[data-export="geojson"] button')!);
    await waitFor(() => expect(calls.filter(([c]) => c === C.exportFile).length).toBe(2));
    expect(calls.filter(([c]) => c === C.exportFile)[1][1]).toMatchObject({ kind: 'geojson', precision: 2 });
    second.resolve({ path: '/home/coord/Téléchargements/carnet-1234-rencontres.geojson', bytes: 2048, rows: 3 });
    expect((await screen.findByTestId('export-path')).textContent).toBe('/home/coord/Téléchargements/carnet-1234-rencontres.geojson');
    expect(screen.getByTestId('export-done').textContent).toContain('3 lignes, 2,0 Ko');

    function answers(cmd: string, f: () => unknown) {
      clearMocks();
      mockIPC(async (c, a) => {
        calls.push([c, (a ?? {}) as Record<string, unknown>]);
        if (c === cmd) return f();
        throw { code: 'serverError', message: 'unexpected' };
      });
    }
  });

  it('lists conflicts, sends the chosen value and refreshes', async () => {
    const conflict: Conflict = {
      teamId: 't1', encounterId: '0190e5a2-aaaa-7bbb-8ccc-123456789abc', field: 'men',
      values: [{ field: 'men', value: 2 }, { field: 'men', value: 3 }], current: 1, resolution: null,
    };
    let resolution: Conflict['resolution'] = null;
    const { backend, calls } = ipc({
      [C.session]: () => session,
      [C.progress]: () => progressAnswer,
      [C.progressMap]: () => '<svg/>',
      [C.conflicts]: () => [{ ...conflict, resolution }],
      [C.resolveConflict]: (a) => {
        resolution = a.chosen as Conflict['resolution'];
        return { teamId: 't1', encounterId: conflict.encounterId, chosen: a.chosen, resolvedBy: 'c', resolvedAt: 1 };
      },
    });
    render(Coordinator, { props: { backend, onleave: () => {} } });
    await fireEvent.click(await screen.findByRole('button', { name: 'Conflits' }));
    const card = await waitFor(() => document.querySelector('li[data-conflict]') ?? Promise.reject(new Error('no card')));
    expect(card.textContent).toContain('Hommes');
    expect(card.textContent).toContain('Équipe 1');
    expect(card.textContent).toContain('Affichée pour l’instant : 3');
    await fireEvent.click(screen.getByRole('button', { name: 'Retenir 2' }));
    await waitFor(() => expect(document.querySelector('li[data-conflict]')?.getAttribute('data-resolved')).toBe('yes'));
    expect(document.querySelector('li[data-conflict]')?.textContent).toContain('Valeur retenue : 2');
    expect(calls.find(([c]) => c === C.resolveConflict)?.[1]).toEqual({ encounterId: conflict.encounterId, chosen: { field: 'men', value: 2 } });
    expect(calls.filter(([c]) => c === C.conflicts).length).toBe(2);
  });

  it('purges only after a confirmation that names what is deleted', async () => {
    const { backend, calls } = ipc({
      [C.session]: () => session,
      [C.progress]: () => progressAnswer,
      [C.progressMap]: () => '<svg/>',
      [C.purgeFieldData]: () => ({ documents: 3, purged: 5, unreadable: [{ team_id: 't9', name: 'Équipe 9' }] }),
    });
    render(Coordinator, { props: { backend, onleave: () => {} } });
    await fireEvent.click(await screen.findByRole('button', { name: 'Effacement' }));
    await fireEvent.click(await screen.findByRole('button', { name: 'Effacer les signes distinctifs…' }));
    expect(calls.some(([c]) => c === C.purgeFieldData)).toBe(false);
    const dialog = screen.getByRole('alertdialog');
    expect(dialog.textContent).toContain('signes distinctifs de toutes les rencontres de toutes les équipes de la nuit « Nuit test »');
    await fireEvent.click(screen.getByRole('button', { name: 'Annuler' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    await fireEvent.click(screen.getByRole('button', { name: 'Effacer les signes distinctifs…' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Oui, effacer' }));
    expect((await screen.findByTestId('purge-report')).textContent).toContain('effacés de 5 rencontres (3 équipes)');
    expect(screen.getByTestId('purge-unreadable').textContent).toContain('Équipe 9');
    expect(calls.filter(([c]) => c === C.purgeFieldData).length).toBe(1);
  });
});
