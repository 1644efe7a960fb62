import { runListenerSets } from './listenerset.ts';
console.log(JSON.stringify(await runListenerSets({ listenerSets: Number(process.argv[2] ?? 2500), routes: Number(process.argv[3] ?? 40000) })));
