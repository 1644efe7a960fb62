import { runControlPlane } from './control-plane.ts';
const n = Number(process.argv[2] ?? 5000), c = Number(process.argv[3] ?? 50);
const f = await runControlPlane(n, c);
console.log(JSON.stringify(f));
