import type { DataSource } from 'typeorm';
import { UsersRepository } from '@bazaar/db';
import type { Config } from '@bazaar/platform';
import { PasswordService } from './password.service';

/**
 * The admin account from ADMIN_EMAIL / ADMIN_PASSWORD: created, or its password and role set again (so changing
 * ADMIN_PASSWORD and re-running rotates it). It signs in to the admin console (Bull Board). A sentence for the log.
 */
export async function ensureAdminAccount(ds: DataSource, config: Pick<Config, 'ADMIN_EMAIL' | 'ADMIN_PASSWORD'>): Promise<string> {
  if (!config.ADMIN_EMAIL || !config.ADMIN_PASSWORD) return 'no admin account (ADMIN_EMAIL / ADMIN_PASSWORD not set): nobody can sign in to /admin/queues';
  const email = config.ADMIN_EMAIL.toLowerCase();
  const admin = await new UsersRepository(ds).upsertAdmin(email, await new PasswordService().hash(config.ADMIN_PASSWORD));
  return `admin ${email} ${admin.created ? 'created' : 'updated'}`;
}
