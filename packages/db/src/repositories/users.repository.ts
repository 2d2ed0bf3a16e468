import type { DataSource } from 'typeorm';
import { Role } from '@bazaar/contracts';
import { execute, isDuplicateKey } from '../data-source';
import { UserEntity } from '../entities';

export class DuplicateEmailError extends Error {
  constructor() {
    super('email already registered');
  }
}

export class UsersRepository {
  constructor(private readonly ds: DataSource) {}

  async create(input: { email: string; passwordHash: string; name: string; role: Role }): Promise<UserEntity> {
    const repo = this.ds.getRepository(UserEntity);
    try {
      const result = await repo.insert(input);
      const id = Number((result.identifiers[0] as { id: number | string }).id);
      return await repo.findOneByOrFail({ id });
    } catch (err) {
      if (isDuplicateKey(err)) throw new DuplicateEmailError();
      throw err;
    }
  }

  /**
   * The configured admin account (npm run up): created, or its password hash
   * and role set again (one statement: the email is unique). Only this path
   * makes an admin; auth.signup accepts CUSTOMER and SELLER alone.
   */
  async upsertAdmin(email: string, passwordHash: string): Promise<{ id: number; created: boolean }> {
    const res = await execute(
      this.ds,
      `INSERT INTO users (email, password_hash, name, role) VALUES (?, ?, 'admin', ?)
       ON DUPLICATE KEY UPDATE password_hash = VALUES(password_hash), role = VALUES(role)`,
      [email, passwordHash, Role.ADMIN],
    );
    const user = await this.findByEmail(email);
    if (!user) throw new Error(`admin ${email} not found after upsert`);
    // MySQL reports 1 affected row for an insert, 2 for an update that changed the row, 0 for none.
    return { id: user.id, created: res.affectedRows === 1 };
  }

  /** Reads the primary: a login right after signup must find the user. */
  findByEmail(email: string): Promise<UserEntity | null> {
    return this.ds.getRepository(UserEntity).findOneBy({ email });
  }

  findById(id: number): Promise<UserEntity | null> {
    return this.ds.getRepository(UserEntity).findOneBy({ id });
  }
}
