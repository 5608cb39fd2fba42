// The QR code a coordinator hands out carries the server and the single-use code, as
// `carnet:enrol?server=<url>&code=<code>` (or the same as JSON `{"server","code"}`), so that a
// team member can scan it with any reader and paste the text.
export interface EnrolmentPayload {
  server: string;
  code: string;
}

export function parseEnrolmentPayload(text: string): EnrolmentPayload | null {
  const s = text.trim();
  if (!s) return null;
  if (s.startsWith('{')) {
    try {
      const o = JSON.parse(s) as { server?: unknown; code?: unknown };
      if (typeof o.server === 'string' && typeof o.code === 'string' && o.server && o.code)
        return { server: o.server.trim(), code: o.code.trim() };
    } catch {
      return null;
    }
    return null;
  }
  const m = /^carnet:(?:\/\/)?enrol\?(.*)$/i.exec(s);
  if (!m) return null;
  const q = new URLSearchParams(m[1]);
  const server = q.get('server')?.trim();
  const code = q.get('code')?.trim();
  return server && code ? { server, code } : null;
}
