// One import for the model: the types of every kind Portico reads, condition constants and
// feature names. (Validation lives in src/api/validation/.)
export * from './meta.ts';
export * from './common.ts';
export * from './gateway.ts';
export * from './routes.ts';
export * from './policy.ts';
export * from './core.ts';
export * from './conditions.ts';
export * from './features.ts';
