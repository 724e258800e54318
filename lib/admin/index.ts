// The admin pages' public surface.
export { estAdmin, type EstAdminOptions, type EstAdminHandler } from './admin.js';
export { hashPassword, verifyPassword, type AdminAuth } from './auth.js';
