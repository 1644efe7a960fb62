// Entry point of a data plane worker process (see workers.ts): an in-process Engine driven by
// messages from the primary.
import type { DataPlaneOptions } from './index.ts';
import type { FromWorker, ToWorker } from './workers.ts';
import { Engine } from './engine.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as DataPlaneOptions;
const engine = new Engine(options);
const send = (m: FromWorker) => process.send?.(m);

process.on('message', (m: ToWorker) => {
  if (m.type === 'portico:apply') {
    engine.apply(m.ir).then(
      (result) => send({ type: 'portico:applied', id: m.id, result }),
      (err: Error) => send({ type: 'portico:applied', id: m.id, error: err.message }),
    );
  } else if (m.type === 'portico:metrics') {
    send({ type: 'portico:metrics', id: m.id, text: engine.metricsText() });
  }
});
process.on('SIGTERM', () => { void engine.close().finally(() => process.exit(0)); });
process.on('disconnect', () => { void engine.close().finally(() => process.exit(0)); });
send({ type: 'portico:ready' });
