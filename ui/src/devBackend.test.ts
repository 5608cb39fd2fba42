// The dev backend follows the Backend contract (the same errors the Rust side must return).
import { describe, expect, it } from 'vitest';
import { devBackend } from './devBackend';
import { newDraft } from './encounter';
import { uuidV7 } from './model';

let clock = 1_769_814_000_000;
const make = () => devBackend({ now: () => clock, random: (n) => new Uint8Array(n).fill(clock++ % 251) });
const draftId = () => uuidV7(clock++, new Uint8Array(10).fill(7));

describe('devBackend contract', () => {
  it('enrolment errors come back as BackendError codes', async () => {
    const b = make();
    await expect(b.getTeamState()).resolves.toBeNull();
    await expect(b.enrol('not a url', 'ABCD-1234')).rejects.toMatchObject({ code: 'invalidServerUrl' });
    await expect(b.enrol('https://s.example', '??')).rejects.toMatchObject({ code: 'invalidEnrolmentCode' });
    await expect(b.enrol('https://s.example', 'USED-0000')).rejects.toMatchObject({ code: 'enrolmentCodeUsed' });
    await expect(b.saveDraft(newDraft(draftId(), clock))).rejects.toMatchObject({ code: 'notEnrolled' });
    const st = await b.enrol('https://s.example', 'abcd-1234');
    expect(st!.team.sectors).toEqual(['S-01-03']);
    expect(st!.night.questionnaire?.version).toBe(2026);
  });

  it('records a complete draft once, rejects an incomplete one with its issues', async () => {
    const b = make();
    await b.enrol('https://s.example', 'ABCD-1234');
    const d = newDraft(draftId(), clock);
    await b.saveDraft(d);
    expect(await b.listDrafts()).toHaveLength(1);
    await expect(b.recordEncounter(d)).rejects.toMatchObject({ code: 'invalidEncounter', issues: expect.arrayContaining(['missing:spaceType', 'noPeople']) });
    Object.assign(d, { spaceType: 'street', installation: 'tent', situation: 'alone', interview: 'asleep' });
    d.counts.men = 1;
    const e = await b.recordEncounter(d);
    expect(e.id).toBe(d.id);
    expect(await b.listDrafts()).toHaveLength(0);
    await expect(b.recordEncounter(d)).rejects.toMatchObject({ code: 'invalidInput' });
    const list = await b.listEncounters();
    expect(list.map((r) => r.syncState)).toEqual(['device']);
    expect((await b.getSyncStatus()).pending).toBe(1);
    b.syncNow();
    expect((await b.listEncounters()).map((r) => r.syncState)).toEqual(['server']);
  });

  it('edits are refused once the round is checked out', async () => {
    const b = make();
    await b.enrol('https://s.example', 'ABCD-1234');
    await b.checkIn('S-01-03');
    await expect(b.checkIn('S-01-03')).rejects.toMatchObject({ code: 'roundAlreadyOpen' });
    const d = { ...newDraft(draftId(), clock), spaceType: 'street', installation: 'tent', situation: 'alone', interview: 'asleep' } as const;
    const e = await b.recordEncounter({ ...d, counts: { ...d.counts, women: 1 } });
    expect((await b.editEncounter(e.id, { field: 'placeDetail', value: 'Pont Neuf' })).placeDetail).toBe('Pont Neuf');
    clock += 1000;
    await b.checkOut();
    await expect(b.editEncounter(e.id, { field: 'men', value: 2 })).rejects.toMatchObject({ code: 'roundClosed' });
    await expect(b.checkOut()).rejects.toMatchObject({ code: 'noOpenRound' });
  });

  it('tallies add up and coverage is recorded', async () => {
    const b = make();
    await b.enrol('https://s.example', 'ABCD-1234');
    expect(await b.addToTally('woods:female:from65', 1)).toBe(1);
    expect(await b.addToTally('woods:female:from65', 2)).toBe(3);
    await expect(b.addToTally('woods:female:old' as never, 1)).rejects.toMatchObject({ code: 'invalidInput' });
    expect((await b.markSectorCovered('S-01-03', true)).status).toBe('coveredNoneFound');
    await expect(b.markSectorCovered('S-99', false)).rejects.toMatchObject({ code: 'notFound' });
  });
});
