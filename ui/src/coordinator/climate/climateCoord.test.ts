// The coordinator's "Climat" tab over a mocked IPC: kit edits, per-field issues from the Rust
// check, publication, alert level, progress per arrondissement.
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import kitFile from '../../../../shared/kits/canicule.json';
import type { Kit, KitDocument } from '../../climate/model';
import { climateCoordBackend, CLIMATE_COORD_COMMANDS as C, type ClimateCoordBackend } from './backend';
import ClimateCoord from './ClimateCoord.svelte';
import ClimateProgressView from './ClimateProgressView.svelte';
import KitEditor from './KitEditor.svelte';
import { addItem, areaRows, plural, editable, issuesAt, moveItem, newId, removeItem, textParagraphs, type ClimateProgress, type KitCheck } from './model';

const kit = kitFile as unknown as Kit;

function backend(over: Partial<ClimateCoordBackend> = {}): ClimateCoordBackend {
  return {
    kit: vi.fn(async (): Promise<KitDocument> => ({ kit, published_at: 1, alert: { level: 'orange', set_at: 1 }, places: [] })),
    defaultKit: vi.fn(async () => kit),
    checkKit: vi.fn(async (k: Kit): Promise<KitCheck> => ({ ok: true, issues: [], kit: k })),
    publishKit: vi.fn(async () => ({ report: { unknown_fields: [], missing_sections: [], rejected: [] } })),
    setLevel: vi.fn(async (level) => ({ level, label: '', set_at: 2 })),
    progress: vi.fn(async (): Promise<ClimateProgress> => progress),
    ...over,
  };
}

const progress: ClimateProgress = {
  areas: {
    '75020': { visits: 1, alerts: 1, ticked_items: 2, items: {}, last_visit_at: 5 },
    '75011': { visits: 2, alerts: 0, ticked_items: 5, items: { eau: 3, depliant: 1 }, last_visit_at: 9 },
  },
  totals: { groups: 1, visits: 3, alerts: 1, handed_out: { eau: 3, depliant: 1 } },
};

describe('climate coordination model', () => {
  it('makes stable ids from labels and never reuses a taken one', () => {
    expect(newId('Thermomètre posé', [])).toBe('thermometre-pose');
    expect(newId('Eau', ['eau', 'eau-2'])).toBe('eau-3');
    expect(newId('!!!', [])).toBe('element');
  });

  it('adds, moves and removes items without touching the ids of the others', () => {
    const k = editable(kit);
    const ids = k.checklists[0].items.map((i) => i.id);
    addItem(k, 0, '  Eau fraîche  ');
    const added = k.checklists[0].items.at(-1)!;
    expect(added).toEqual({ id: 'eau-fraiche', label: 'Eau fraîche' });
    moveItem(k, 0, 0, 1);
    expect(k.checklists[0].items.slice(0, 2).map((i) => i.id)).toEqual([ids[1], ids[0]]);
    moveItem(k, 0, 0, -1);
    expect(k.checklists[0].items[0].id).toBe(ids[1]);
    removeItem(k, 0, k.checklists[0].items.length - 1);
    expect(k.checklists[0].items.map((i) => i.id).sort()).toEqual([...ids].sort());
    expect(kit.checklists[0].items.map((i) => i.id)).toEqual(ids);
  });

  it('splits paragraphs on blank lines and finds issues under a path', () => {
    expect(textParagraphs('a\n\n  \nb\nc\n\n')).toEqual(['a', 'b\nc']);
    const issues = [
      { path: 'sections[1].paragraphs[0]', message: 'x' },
      { path: 'sections[10].title', message: 'y' },
    ];
    expect(issuesAt(issues, 'sections[1]').map((i) => i.message)).toEqual(['x']);
  });

  it('words counts in French', () => {
    expect([0, 1, 2].map((n) => `${n} ${plural(n, 'visite')}`)).toEqual(['0 visite', '1 visite', '2 visites']);
  });

  it('orders arrondissements and adds up the items handed out', () => {
    const rows = areaRows(progress);
    expect(rows.map((r) => [r.code, r.label, r.handedOut])).toEqual([
      ['75011', '11e arrondissement', 4],
      ['75020', '20e arrondissement', 0],
    ]);
  });
});

describe('kit editor', () => {
  it('publishes the kit as edited: renamed item, new item, checked in Rust first', async () => {
    const b = backend();
    render(KitEditor, { props: { backend: b, initial: kit } });
    const first = document.querySelector("input[data-path='checklists[0].items[0].label']") as HTMLInputElement;
    await fireEvent.input(first, { target: { value: 'Eau : une bouteille à portée de main' } });
    await fireEvent.input(document.querySelector('#new-item-0')!, { target: { value: 'Thermomètre' } });
    await fireEvent.click(screen.getAllByRole('button', { name: 'Ajouter l’élément' })[0]);
    await fireEvent.click(screen.getByRole('button', { name: 'Publier le kit' }));
    await waitFor(() => expect(b.publishKit).toHaveBeenCalledTimes(1));
    const sent = (b.publishKit as ReturnType<typeof vi.fn>).mock.calls[0][0] as Kit;
    expect(sent.checklists[0].items[0].label).toBe('Eau : une bouteille à portée de main');
    expect(sent.checklists[0].items.at(-1)).toEqual({ id: 'thermometre', label: 'Thermomètre' });
    expect(b.checkKit).toHaveBeenCalledBefore(b.publishKit as ReturnType<typeof vi.fn>);
    expect(screen.getByRole('status').textContent).toContain('Kit publié');
  });

  it('shows each issue under its field and does not publish', async () => {
    const issues = [
      { path: 'checklists[0].items[1].label', message: 'Texte vide : à remplir ou à supprimer.' },
      { path: 'level_actions.jaune', message: 'Actions de ce niveau d’alerte manquantes (une liste, même vide).' },
    ];
    const b = backend({ checkKit: vi.fn(async () => ({ ok: false, issues, kit: null })) });
    render(KitEditor, { props: { backend: b, initial: kit } });
    await fireEvent.click(screen.getByRole('button', { name: 'Publier le kit' }));
    await waitFor(() => expect(document.querySelector("[data-issue-path='checklists[0].items[1].label']")).toBeTruthy());
    const item = document.querySelector(`li[data-item='${kit.checklists[0].items[1].id}']`)!;
    expect(item.textContent).toContain('Texte vide');
    expect(document.querySelector("[data-issue-path='level_actions.jaune']")).toBeTruthy();
    expect(b.publishKit).not.toHaveBeenCalled();
    expect(screen.getAllByRole('alert').map((a) => a.textContent).join(' ')).toContain('corrigez les champs signalés');
  });
});

describe('climate tab', () => {
  it('shows the level, sets a new one and lists progress per arrondissement', async () => {
    const b = backend();
    render(ClimateCoord, { props: { backend: b } });
    await waitFor(() => expect(document.querySelector("button[data-level='orange']")!.getAttribute('aria-pressed')).toBe('true'));
    await fireEvent.click(document.querySelector("button[data-level='rouge']")!);
    await waitFor(() => expect(document.querySelector("button[data-level='rouge']")!.getAttribute('aria-pressed')).toBe('true'));
    expect(b.setLevel).toHaveBeenCalledWith('rouge');
    await waitFor(() => expect(document.querySelector("tr[data-area='75011']")).toBeTruthy());
    expect(document.querySelector("tr[data-area='75011']")!.getAttribute('data-items')).toBe('4');
    expect(document.querySelector("tr[data-area='75020']")!.getAttribute('data-alerts')).toBe('1');
  });

  it('starts from the default kit when none is published', async () => {
    const b = backend({ kit: vi.fn(async () => ({ kit: null, published_at: null, alert: { level: 'vert' as const, set_at: 1 }, places: [] })) });
    render(ClimateCoord, { props: { backend: b } });
    await fireEvent.click(await screen.findByRole('button', { name: 'Modifier le kit' }));
    await waitFor(() => expect(screen.getByText(/Aucun kit publié/)).toBeTruthy());
    expect(b.defaultKit).toHaveBeenCalled();
    expect((document.querySelector('#kit-title') as HTMLInputElement).value).toBe(kit.title);
  });

  it('refreshes the progress on a timer and on demand, keeping figures on an error', async () => {
    vi.useFakeTimers();
    try {
      let fail = false;
      const b = backend({
        progress: vi.fn(async () => {
          if (fail) throw { code: 'serverUnreachable', message: 'down' };
          return progress;
        }),
      });
      render(ClimateProgressView, { props: { backend: b, refreshMs: 5_000 } });
      await vi.waitFor(() => expect(document.querySelector("tr[data-area='75011']")).toBeTruthy());
      await vi.advanceTimersByTimeAsync(5_000);
      expect(b.progress).toHaveBeenCalledTimes(2);
      fail = true;
      await fireEvent.click(screen.getByRole('button', { name: 'Actualiser' }));
      await vi.waitFor(() => expect(screen.getByRole('alert').textContent).toContain('Serveur injoignable'));
      expect(document.querySelector("tr[data-area='75011']")).toBeTruthy();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('climate coordination IPC', () => {
  it('calls the commands with their argument names and keeps the coordinator error codes', async () => {
    const calls: unknown[] = [];
    const invoke = (async (cmd: string, args?: Record<string, unknown>) => {
      calls.push([cmd, args]);
      if (cmd === C.publishKit) throw { code: 'invalidInput', message: 'the kit has problems' };
      return null;
    }) as <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;
    const b = climateCoordBackend(invoke);
    await b.setLevel('jaune');
    await b.checkKit(kit);
    await expect(b.publishKit(kit)).rejects.toEqual({ code: 'invalidInput', message: 'the kit has problems' });
    await b.progress();
    expect(calls).toEqual([
      [C.setLevel, { level: 'jaune' }],
      [C.checkKit, { kit }],
      [C.publishKit, { kit }],
      [C.progress, undefined],
    ]);
  });
});
