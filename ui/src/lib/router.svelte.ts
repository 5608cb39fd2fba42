// A hash router: `#/home`, `#/new`, `#/draft/<id>`, `#/encounter/<id>`, `#/tallies`, `#/list`,
// `#/enrol`. The hash survives a reload, so a killed app reopens on the draft it was showing.
export type Route =
  | { name: 'home' }
  | { name: 'enrol' }
  | { name: 'new' }
  | { name: 'draft'; id: string }
  | { name: 'encounter'; id: string }
  | { name: 'tallies' }
  | { name: 'list' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [head, arg] = parts;
  switch (head) {
    case 'enrol':
    case 'new':
    case 'tallies':
    case 'list':
      return { name: head };
    case 'draft':
    case 'encounter':
      return arg ? { name: head, id: decodeURIComponent(arg) } : { name: 'home' };
    default:
      return { name: 'home' };
  }
}

export function routeHash(r: Route): string {
  return 'id' in r ? `#/${r.name}/${encodeURIComponent(r.id)}` : `#/${r.name}`;
}

export const router = $state({ route: parseRoute(typeof location !== 'undefined' ? location.hash : '') });

export function navigate(r: Route, replace = false): void {
  router.route = r;
  const h = routeHash(r);
  if (typeof location === 'undefined' || location.hash === h) return;
  if (replace) history.replaceState(null, '', h);
  else location.hash = h;
}

if (typeof window !== 'undefined') {
  window.addEventListener('hashchange', () => {
    router.route = parseRoute(location.hash);
  });
}
