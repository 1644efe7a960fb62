// The admin web page (GET / from a browser): every owned object with its conditions, one row per
// object (routes: one row per parent), refreshed every few seconds. Rendered on the server from
// the same List as /status; no scripts. Everything from manifests is HTML-escaped.

interface Cond { type?: string; status?: string; reason?: string; message?: string }
interface Item {
  kind?: string;
  metadata?: { namespace?: string; name?: string; generation?: number };
  status?: {
    conditions?: Cond[];
    listeners?: { name?: string; attachedRoutes?: number; conditions?: Cond[] }[];
    parents?: { parentRef?: { namespace?: string; name?: string; sectionName?: string; kind?: string }; conditions?: Cond[] }[];
    ancestors?: { ancestorRef?: { namespace?: string; name?: string; kind?: string }; conditions?: Cond[] }[];
  };
}

export function renderStatusPage(list: unknown, ready: boolean): string {
  const items = ((list as { items?: Item[] })?.items ?? []);
  const rows: string[] = [];
  for (const item of items) {
    const name = `${item.metadata?.namespace ? `${item.metadata.namespace}/` : ''}${item.metadata?.name ?? ''}`;
    const head = `<td>${esc(item.kind)}</td><td>${esc(name)}</td>`;
    const st = item.status ?? {};
    if (st.conditions) rows.push(`<tr>${head}<td></td><td>${conds(st.conditions)}</td></tr>`);
    for (const l of st.listeners ?? []) rows.push(`<tr>${head}<td>listener ${esc(l.name)} (${l.attachedRoutes ?? 0} routes)</td><td>${conds(l.conditions)}</td></tr>`);
    for (const p of st.parents ?? []) rows.push(`<tr>${head}<td>parent ${esc(ref(p.parentRef))}</td><td>${conds(p.conditions)}</td></tr>`);
    for (const a of st.ancestors ?? []) rows.push(`<tr>${head}<td>ancestor ${esc(ref(a.ancestorRef))}</td><td>${conds(a.conditions)}</td></tr>`);
  }
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Portico</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
.True{color:#176f2c}.False{color:#b3261e}.Unknown{color:#8a6d00}small{color:#555}
</style></head><body>
<h1>Portico</h1>
<p>${ready ? 'Ready: a configuration is live.' : 'Not ready: no configuration is live yet.'} <a href="/status?output=yaml">status</a> · <a href="/config">config</a> · <a href="/metrics">metrics</a></p>
<table><tr><th>Kind</th><th>Name</th><th>Part</th><th>Conditions</th></tr>
${rows.join('\n')}
</table></body></html>
`;
}

function conds(list: Cond[] | undefined): string {
  return (list ?? [])
    .map((c) => `<span class="${esc(c.status)}" title="${esc(c.message)}">${esc(c.type)}=${esc(c.status)}</span> <small>${esc(c.reason)}${c.status !== 'True' && c.message ? `: ${esc(c.message)}` : ''}</small>`)
    .join('<br>');
}

function ref(r: { namespace?: string; name?: string; sectionName?: string; kind?: string } | undefined): string {
  if (!r) return '';
  return `${r.kind ?? 'Gateway'} ${r.namespace ? `${r.namespace}/` : ''}${r.name ?? ''}${r.sectionName ? `#${r.sectionName}` : ''}`;
}

function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
