// The Tauri side of the contract, through the real @tauri-apps/api invoke/listen with mocked IPC.
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import { afterEach, describe, expect, it } from 'vitest';
import { COMMANDS, toBackendError, type SyncStatus } from './backend';
import { inTauri, tauriBackend } from './platform';

afterEach(() => clearMocks());

describe('tauriBackend', () => {
  it('is chosen only when Tauri internals are present', () => {
    expect(inTauri()).toBe(false);
    mockIPC(() => null);
    expect(inTauri()).toBe(true);
  });

  it('invokes snake_case commands with camelCase arguments', async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === COMMANDS.addToTally) return 4;
      return null;
    });
    const b = tauriBackend();
    expect(await b.addToTally('street:male:from65', 1)).toBe(4);
    await b.enrol('https://x.example', 'ABCD-1234');
    await b.markSectorCovered('S-1', true);
    await b.editEncounter('id-1', { field: 'men', value: 2 });
    await b.checkIn(null);
    expect(calls).toEqual([
      ['add_to_tally', { dimension: 'street:male:from65', delta: 1 }],
      ['enrol', { serverUrl: 'https://x.example', code: 'ABCD-1234' }],
      ['mark_sector_covered', { sectorId: 'S-1', zeroFound: true }],
      ['edit_encounter', { id: 'id-1', edit: { field: 'men', value: 2 } }],
      ['check_in', { sectorId: null }],
    ]);
  });

  it('passes structured errors through as BackendError', async () => {
    mockIPC(() => {
      throw { code: 'roundClosed', message: 'round closed' };
    });
    await expect(tauriBackend().checkOut()).rejects.toEqual({ code: 'roundClosed', message: 'round closed' });
  });

  it('keeps encounter issues of invalidEncounter', async () => {
    mockIPC(() => {
      throw { code: 'invalidEncounter', message: 'x', issues: ['noPeople', 3] };
    });
    await expect(tauriBackend().listEncounters()).rejects.toEqual({ code: 'invalidEncounter', message: 'x', issues: ['noPeople'] });
  });

  it('maps a bare string error to "ipc" without echoing it', async () => {
    mockIPC(() => {
      throw 'secret answer text';
    });
    const err = await tauriBackend().getTeamState().catch((e: unknown) => e);
    expect(err).toEqual({ code: 'ipc', message: 'command failed without a structured error' });
    expect(JSON.stringify(err)).not.toContain('secret');
  });

  it('maps an unknown error code to "internal"', () => {
    expect(toBackendError({ code: 'weird', message: 'm' })).toEqual({ code: 'internal', message: 'unknown error code' });
    expect(toBackendError(new Error('boom')).code).toBe('ipc');
    expect(toBackendError(null).code).toBe('ipc');
  });

  it('delivers sync-status and team-changed events', async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const b = tauriBackend();
    const seen: SyncStatus[] = [];
    let changed = 0;
    const un1 = await b.onSyncStatus((s) => seen.push(s));
    const un2 = await b.onTeamChanged(() => changed++);
    const status: SyncStatus = { phase: 'offline', pending: 3, lastSyncAt: null, error: null };
    await emit('sync-status', status);
    await emit('team-changed');
    expect(seen).toEqual([status]);
    expect(changed).toBe(1);
    un1();
    un2();
    await emit('team-changed');
    expect(changed).toBe(1);
  });
});
