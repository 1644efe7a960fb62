// Entry point of a data plane worker process (see workers.ts): an in-process Engine driven by
// messages from the primary.
import type { DataPlaneOptions } from './index.ts';
import type { FromWorker, ToWorker } from './workers.ts';
import { Engine } from './engine.ts';
import { WireDecoder } from './ir-wire.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as DataPlaneOptions;
const engine = new Engine(options);
const send = (m: FromWorker) => process.send?.(m);
const wire = new WireDecoder();

process.on('message', (m: ToWorker) => {
  if (m.type === 'portico:apply') {
    let ir;
    try {
      // Decoded on arrival, in message order: each message refers to what the previous ones held.
      ir = wire.decode(m.ir);
    } catch (err) {
      wire.reset(); // the primary sends every part again after an error
      send({ type: 'portico:applied', id: m.id, error: (err as Error).message });
      return;
    }
    engine.apply(ir).then(
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
