// est-migrate reads the directive table the middleware owns (lib/middleware/directives.ts).
export * from '../middleware/directives.js';
