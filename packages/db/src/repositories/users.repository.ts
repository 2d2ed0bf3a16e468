import type { DataSource } from 'typeorm';
import type { Role } from '@bazaar/contracts';
import { isDuplicateKey } from '../data-source';
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

  /** Reads the primary: a login right after signup must find the user. */
  findByEmail(email: string): Promise<UserEntity | null> {
    return this.ds.getRepository(UserEntity).findOneBy({ email });
  }

  findById(id: number): Promise<UserEntity | null> {
    return this.ds.getRepository(UserEntity).findOneBy({ id });
  }
}
