// Container logs as the kubelet serves them on /containerLogs: the agent stores each output line in
// the CRI format "<RFC3339Nano time> <stream> F <text>" and this reads them back honouring the
// query options the API server forwards (sinceTime, sinceSeconds, timestamps, tailLines, limitBytes).
// `follow` is not supported: the response ends with the lines written so far.
import { readFileSync } from 'node:fs';

export function readLogs(file: string, params: URLSearchParams, now = Date.now()): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const sinceTime = params.get('sinceTime');
  const sinceSeconds = params.get('sinceSeconds');
  const since = sinceTime ? Date.parse(sinceTime) : sinceSeconds ? now - Number(sinceSeconds) * 1000 : undefined;
  const timestamps = params.get('timestamps') === 'true';
  let lines = text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [time, , , ...rest] = l.split(' ');
      return { time, text: rest.join(' ') };
    })
    .filter((l) => since === undefined || Date.parse(l.time) >= since);
  const tail = params.get('tailLines');
  if (tail !== null && Number(tail) >= 0) lines = lines.slice(Math.max(0, lines.length - Number(tail)));
  let out = lines.map((l) => (timestamps ? `${l.time} ${l.text}\n` : `${l.text}\n`)).join('');
  const limit = params.get('limitBytes');
  if (limit !== null && Number(limit) > 0) out = out.slice(0, Number(limit));
  return out;
}
