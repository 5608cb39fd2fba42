import { describe, expect, it } from 'vitest';
import { parseEnrolmentPayload } from './enrolment';

describe('enrolment QR payload', () => {
  it('reads the carnet:enrol URI and the JSON form', () => {
    expect(parseEnrolmentPayload(' carnet:enrol?server=https%3A%2F%2Fsync.example&code=ABCD-1234 ')).toEqual({ server: 'https://sync.example', code: 'ABCD-1234' });
    expect(parseEnrolmentPayload('carnet://enrol?server=http://127.0.0.1:8080&code=x1')).toEqual({ server: 'http://127.0.0.1:8080', code: 'x1' });
    expect(parseEnrolmentPayload('{"server":"https://s","code":"C"}')).toEqual({ server: 'https://s', code: 'C' });
  });

  it.each(['', 'ABCD-1234', 'https://sync.example', 'carnet:enrol?server=https://s', '{"server":1,"code":"c"}', '{bad'])(
    'rejects %j',
    (s) => expect(parseEnrolmentPayload(s)).toBeNull(),
  );
});
