// What the signed-in person may see. Who may use code-server is the server's
// decision (CODE_SERVER_ROLE), reported as `can_use_code_server` by
// /api/auth/me and in the login response.
import type { User } from './types';

export function canOpenVSCode(user: User | null): boolean {
  return !!user?.can_use_code_server;
}
