/**
 * `npm run db:seed`: demo data for a newcomer — sellers with stores and a
 * catalog, and a customer with a topped-up wallet. Safe to run again: it
 * does nothing when the demo accounts exist.
 */
import 'reflect-metadata';
import { Role } from '@bazaar/contracts';
import { CatalogRepository, UsersRepository, WalletRepository, createDataSource } from '@bazaar/db';
import { loadConfigOrExit } from '@bazaar/platform';
import { PasswordService } from '../apps/api/src/services/password.service';

export const DEMO_PASSWORD = 'bazaar-demo-1234';

const STORES: { seller: string; name: string; products: [string, string, number][] }[] = [
  {
    seller: 'seller1',
    name: '서울 꽃집 Seoul Flowers',
    products: [
      ['장미 꽃다발 Rose bouquet', '붉은 장미 12송이 / twelve red roses', 15_000],
      ['튤립 화병 Tulip vase', '유리 화병과 튤립 / glass vase with tulips', 8_000],
      ['카네이션 바구니 Carnation basket', 'Mother’s day basket', 32_000],
      ['다육이 세트 Succulent set', '작은 다육 식물 3개 / three small succulents', 12_500],
      ['메시지 카드 Message card', 'hand-written card', 2_500],
    ],
  },
  {
    seller: 'seller2',
    name: '부산 커피 Busan Coffee Roasters',
    products: [
      ['에티오피아 원두 200g Ethiopia beans', 'light roast, floral', 14_000],
      ['콜롬비아 원두 500g Colombia beans', 'medium roast, chocolate', 27_000],
      ['드립백 10개 Drip bags ×10', 'single-serve drip coffee', 11_000],
      ['머그컵 Mug', '도자기 머그 350ml / ceramic mug', 9_900],
      ['콜드브루 1L Cold brew', '냉장 보관 / keep refrigerated', 13_500],
    ],
  },
  {
    seller: 'seller3',
    name: '제주 감귤농장 Jeju Tangerine Farm',
    products: [
      ['감귤 5kg Tangerines', '제주 노지 감귤 / open-field tangerines', 25_000],
      ['한라봉 3kg Hallabong', 'sweet Hallabong oranges', 39_000],
      ['감귤 주스 Tangerine juice ×12', '100% juice, 12 bottles', 21_600],
      ['감귤 초콜릿 Tangerine chocolate', '제주 기념품 / Jeju souvenir', 7_000],
    ],
  },
];

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const ds = createDataSource({ ...config, MYSQL_REPLICA_URLS: [] });
  await ds.initialize();
  try {
    const users = new UsersRepository(ds);
    if (await users.findByEmail('customer@demo.bazaar')) {
      process.stdout.write('demo data already loaded\n');
      return;
    }
    const passwordHash = await new PasswordService().hash(DEMO_PASSWORD);
    const catalog = new CatalogRepository(ds);
    let products = 0;
    for (const s of STORES) {
      const seller = await users.create({ email: `${s.seller}@demo.bazaar`, passwordHash, name: s.name.split(' ')[0] ?? s.seller, role: Role.SELLER });
      const store = await catalog.createStore(seller.id, s.name);
      for (const [name, description, price] of s.products) {
        await catalog.createProduct({ storeId: store.id, name, description, price, stock: 100 });
        products++;
      }
    }
    const customer = await users.create({ email: 'customer@demo.bazaar', passwordHash, name: '김민지', role: Role.CUSTOMER });
    await new WalletRepository(ds).charge(customer.id, 100_000, 'demo-seed-topup');
    process.stdout.write(`loaded ${STORES.length} stores, ${products} products, a customer with 100,000 won (password ${DEMO_PASSWORD})\n`);
  } finally {
    await ds.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`seeding failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
