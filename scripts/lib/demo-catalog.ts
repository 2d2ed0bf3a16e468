/**
 * The demo catalog `npm run up` loads: eight stores of 375 products each,
 * named in Korean and English, priced in won. Generated from word lists,
 * deterministically (the same catalog on every machine and every run, so
 * seeding again can skip what is there by name). No network.
 */

export interface DemoProduct {
  name: string;
  description: string;
  price: number;
  stock: number;
  /** A head start for the popular sort; real views add to it. */
  viewCount: number;
}

export interface DemoStore {
  seller: string;
  name: string;
  products: DemoProduct[];
}

export const PRODUCTS_PER_STORE = 375;

type Word = readonly [ko: string, en: string];
type Priced = readonly [ko: string, en: string, won: number];
type Factor = readonly [ko: string, en: string, factor: number];

interface StoreSpec {
  seller: string;
  name: string;
  /** The first products the seed ever had, kept as they were. */
  classics: readonly (readonly [name: string, description: string, price: number])[];
  items: readonly Priced[];
  kinds: readonly Factor[];
  styles: readonly Word[];
  features: readonly Word[];
  /** Korean and English names from a style, an item and a kind. */
  ko(style: string, item: string, kind: string): string;
  en(style: string, item: string, kind: string): string;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

const STORES: readonly StoreSpec[] = [
  {
    seller: 'seller1',
    name: '서울 꽃집 Seoul Flowers',
    classics: [
      ['장미 꽃다발 Rose bouquet', '붉은 장미 12송이 / twelve red roses', 15_000],
      ['튤립 화병 Tulip vase', '유리 화병과 튤립 / glass vase with tulips', 8_000],
      ['카네이션 바구니 Carnation basket', 'Mother’s day basket', 32_000],
      ['다육이 세트 Succulent set', '작은 다육 식물 3개 / three small succulents', 12_500],
      ['메시지 카드 Message card', 'hand-written card', 2_500],
    ],
    items: [
      ['장미', 'rose', 15_000],
      ['튤립', 'tulip', 13_000],
      ['카네이션', 'carnation', 12_000],
      ['해바라기', 'sunflower', 14_000],
      ['안개꽃', 'baby’s breath', 11_000],
      ['수국', 'hydrangea', 18_000],
      ['프리지아', 'freesia', 12_000],
      ['작약', 'peony', 25_000],
      ['리시안셔스', 'lisianthus', 16_000],
      ['국화', 'chrysanthemum', 10_000],
      ['라벤더', 'lavender', 13_000],
      ['백합', 'lily', 17_000],
    ],
    kinds: [
      ['꽃다발', 'bouquet', 2],
      ['꽃바구니', 'flower basket', 2.6],
      ['한 송이', 'single stem', 0.3],
      ['화분', 'in a pot', 1.5],
      ['드라이플라워', 'dried flowers', 1.3],
      ['꽃병 세트', 'vase set', 2.2],
    ],
    styles: [
      ['빨간', 'red'],
      ['분홍', 'pink'],
      ['하얀', 'white'],
      ['노란', 'yellow'],
      ['보라', 'purple'],
      ['파스텔', 'pastel'],
      ['믹스', 'mixed'],
    ],
    features: [
      ['서울 당일 배송', 'same-day delivery in Seoul'],
      ['메시지 카드 무료', 'a message card, free'],
      ['그날 들어온 꽃으로만', 'only flowers that came in that morning'],
      ['생일과 기념일 선물로', 'for birthdays and anniversaries'],
      ['플로리스트가 직접 포장', 'wrapped by our florists'],
    ],
    ko: (s, i, k) => `${s} ${i} ${k}`,
    en: (s, i, k) => `${cap(s)} ${i} ${k}`,
  },
  {
    seller: 'seller2',
    name: '부산 커피 Busan Coffee Roasters',
    classics: [
      ['에티오피아 원두 200g Ethiopia beans', 'light roast, floral', 14_000],
      ['콜롬비아 원두 500g Colombia beans', 'medium roast, chocolate', 27_000],
      ['드립백 10개 Drip bags ×10', 'single-serve drip coffee', 11_000],
      ['머그컵 Mug', '도자기 머그 350ml / ceramic mug', 9_900],
      ['콜드브루 1L Cold brew', '냉장 보관 / keep refrigerated', 13_500],
    ],
    items: [
      ['원두', 'coffee beans', 14_000],
      ['분쇄 원두', 'ground coffee', 14_500],
      ['디카페인 원두', 'decaf beans', 16_000],
      ['드립백', 'drip bags', 11_000],
      ['콜드브루 원액', 'cold brew concentrate', 15_000],
      ['캡슐 커피', 'coffee capsules', 9_900],
      ['더치커피', 'Dutch coffee', 17_000],
      ['에스프레소 블렌드', 'espresso blend', 15_500],
    ],
    kinds: [
      ['라이트 로스트 200g', 'light roast, 200 g', 1],
      ['라이트 로스트 500g', 'light roast, 500 g', 2.1],
      ['미디엄 로스트 200g', 'medium roast, 200 g', 1],
      ['미디엄 로스트 500g', 'medium roast, 500 g', 2.1],
      ['다크 로스트 200g', 'dark roast, 200 g', 1],
      ['다크 로스트 500g', 'dark roast, 500 g', 2.1],
      ['1kg 대용량', '1 kg bulk', 3.8],
    ],
    styles: [
      ['에티오피아', 'Ethiopia'],
      ['콜롬비아', 'Colombia'],
      ['과테말라', 'Guatemala'],
      ['케냐', 'Kenya'],
      ['브라질', 'Brazil'],
      ['하우스 블렌드', 'house blend'],
      ['제주', 'Jeju'],
    ],
    features: [
      ['주문 후 로스팅', 'roasted after you order'],
      ['부산 영도 로스터리', 'from our Yeongdo roastery in Busan'],
      ['산미와 단맛의 균형', 'balanced acidity and sweetness'],
      ['핸드드립과 에스프레소 모두', 'for pour-over and espresso alike'],
      ['밀폐 아로마 밸브 포장', 'sealed bag with an aroma valve'],
    ],
    ko: (s, i, k) => `${s} ${i} ${k}`,
    en: (s, i, k) => `${cap(s)} ${i}, ${k}`,
  },
  {
    seller: 'seller3',
    name: '제주 감귤농장 Jeju Tangerine Farm',
    classics: [
      ['감귤 5kg Tangerines', '제주 노지 감귤 / open-field tangerines', 25_000],
      ['한라봉 3kg Hallabong', 'sweet Hallabong oranges', 39_000],
      ['감귤 주스 Tangerine juice ×12', '100% juice, 12 bottles', 21_600],
      ['감귤 초콜릿 Tangerine chocolate', '제주 기념품 / Jeju souvenir', 7_000],
    ],
    items: [
      ['감귤', 'tangerines', 25_000],
      ['한라봉', 'Hallabong', 39_000],
      ['천혜향', 'Cheonhyehyang', 42_000],
      ['레드향', 'Red-hyang', 45_000],
      ['황금향', 'Hwanggeum-hyang', 43_000],
      ['감귤 주스', 'tangerine juice', 21_600],
      ['감귤 잼', 'tangerine jam', 9_000],
      ['감귤 초콜릿', 'tangerine chocolate', 7_000],
      ['귤피차', 'tangerine peel tea', 12_000],
      ['귤칩', 'dried tangerine chips', 8_000],
      ['레몬', 'lemons', 18_000],
      ['키위', 'kiwis', 22_000],
    ],
    kinds: [
      ['1kg', '1 kg', 0.3],
      ['3kg', '3 kg', 0.75],
      ['5kg', '5 kg', 1],
      ['10kg', '10 kg', 1.8],
      ['선물 상자', 'gift box', 1.3],
      ['실속형', 'value pack', 0.8],
    ],
    styles: [
      ['노지', 'open-field'],
      ['하우스', 'greenhouse'],
      ['유기농', 'organic'],
      ['못난이', 'imperfect'],
      ['특품', 'premium'],
      ['로열과', 'royal-grade'],
      ['서귀포', 'Seogwipo'],
    ],
    features: [
      ['제주에서 산지 직송', 'shipped straight from the farm in Jeju'],
      ['수확 후 바로 발송', 'sent the day it is picked'],
      ['당도 12브릭스 이상', 'at least 12 °Brix sweet'],
      ['무농약 재배', 'grown without pesticides'],
      ['상처 난 과일은 교환', 'bruised fruit replaced'],
    ],
    ko: (s, i, k) => `${s} ${i} ${k}`,
    en: (s, i, k) => `${cap(s)} ${i}, ${k}`,
  },
  {
    seller: 'seller4',
    name: '성수 가죽공방 Seongsu Leather Works',
    classics: [],
    items: [
      ['토트 가방', 'tote bag', 89_000],
      ['노트북가방', 'laptop bag', 79_000],
      ['백팩', 'backpack', 119_000],
      ['크로스백', 'crossbody bag', 69_000],
      ['클러치', 'clutch', 49_000],
      ['장지갑', 'long wallet', 59_000],
      ['카드지갑', 'card wallet', 29_000],
      ['벨트', 'belt', 39_000],
      ['키링', 'key ring', 12_000],
      ['로퍼 신발', 'loafers', 139_000],
      ['첼시 부츠', 'Chelsea boots', 169_000],
      ['스니커즈 신발', 'sneakers', 99_000],
      ['여권 케이스', 'passport case', 35_000],
    ],
    kinds: [
      ['소가죽', 'cowhide', 1],
      ['양가죽', 'lambskin', 1.3],
      ['스웨이드', 'suede', 1.15],
      ['캔버스', 'canvas', 0.6],
      ['비건 가죽', 'vegan leather', 0.8],
    ],
    styles: [
      ['블랙', 'black'],
      ['브라운', 'brown'],
      ['카멜', 'camel'],
      ['네이비', 'navy'],
      ['아이보리', 'ivory'],
      ['버건디', 'burgundy'],
      ['올리브', 'olive'],
    ],
    features: [
      ['성수동 공방에서 수작업', 'handmade in our Seongsu workshop'],
      ['이니셜 각인 무료', 'free initial embossing'],
      ['1년 무상 수선', 'one year of free repairs'],
      ['꼼꼼한 바느질', 'careful stitching'],
      ['선물 포장 가능', 'gift wrapping available'],
    ],
    ko: (s, i, k) => `${s} ${k} ${i}`,
    en: (s, i, k) => `${cap(s)} ${k} ${i}`,
  },
  {
    seller: 'seller5',
    name: '용산 전자 Yongsan Electronics',
    classics: [],
    items: [
      ['노트북', 'laptop', 1_290_000],
      ['태블릿', 'tablet', 590_000],
      ['무선 이어폰', 'wireless earbuds', 159_000],
      ['헤드폰', 'headphones', 249_000],
      ['블루투스 스피커', 'Bluetooth speaker', 89_000],
      ['보조배터리', 'power bank', 39_000],
      ['고속 충전기', 'fast charger', 29_000],
      ['USB-C 케이블', 'USB-C cable', 12_000],
      ['기계식 키보드', 'mechanical keyboard', 129_000],
      ['무선 마우스', 'wireless mouse', 35_000],
      ['모니터', 'monitor', 329_000],
      ['웹캠', 'webcam', 69_000],
      ['스마트워치', 'smartwatch', 299_000],
    ],
    kinds: [
      ['기본형', 'standard', 1],
      ['프로', 'Pro', 1.4],
      ['라이트', 'Lite', 0.75],
      ['맥스', 'Max', 1.7],
      ['2025년형', '2025 edition', 1.1],
    ],
    styles: [
      ['스페이스 그레이', 'space gray'],
      ['실버', 'silver'],
      ['화이트', 'white'],
      ['미드나이트', 'midnight'],
      ['블루', 'blue'],
      ['그린', 'green'],
    ],
    features: [
      ['정품 1년 보증', 'one-year manufacturer warranty'],
      ['오늘 출발', 'ships today'],
      ['용산 매장 픽업 가능', 'pick up at our Yongsan shop'],
      ['KC 인증', 'KC certified'],
      ['한글 자판', 'Korean keyboard layout'],
    ],
    ko: (s, i, k) => `${i} ${k} ${s}`,
    en: (s, i, k) => `${cap(i)} ${k}, ${s}`,
  },
  {
    seller: 'seller6',
    name: '강원 목장 Gangwon Dairy Farm',
    classics: [],
    items: [
      ['우유', 'milk', 2_900],
      ['저지방 우유', 'low-fat milk', 3_100],
      ['딸기 우유', 'strawberry milk', 1_900],
      ['초코 우유', 'chocolate milk', 1_900],
      ['요거트', 'yogurt', 4_500],
      ['그릭 요거트', 'Greek yogurt', 6_900],
      ['체다 치즈', 'cheddar cheese', 8_900],
      ['모차렐라 치즈', 'mozzarella', 9_900],
      ['버터', 'butter', 7_900],
      ['생크림', 'fresh cream', 5_900],
      ['아이스크림', 'ice cream', 6_500],
      ['우유 식빵', 'milk bread', 4_800],
    ],
    kinds: [
      ['1개', 'single', 1],
      ['2개 묶음', 'pack of 2', 1.9],
      ['4개 묶음', 'pack of 4', 3.6],
      ['대용량', 'family size', 2.5],
      ['선물 세트', 'gift set', 4.2],
    ],
    styles: [
      ['유기농', 'organic'],
      ['무항생제', 'antibiotic-free'],
      ['목장', 'farm'],
      ['대관령', 'Daegwallyeong'],
      ['목초', 'grass-fed'],
      ['저온살균', 'low-temperature pasteurized'],
      ['국산', 'Korean'],
    ],
    features: [
      ['새벽 착유', 'milked at dawn'],
      ['냉장 배송', 'delivered chilled'],
      ['첨가물 없이', 'no additives'],
      ['강원도 평창 목장', 'from our farm in Pyeongchang, Gangwon'],
      ['유통기한 넉넉히', 'long best-before date'],
    ],
    ko: (s, i, k) => `${s} ${i} ${k}`,
    en: (s, i, k) => `${cap(s)} ${i}, ${k}`,
  },
  {
    seller: 'seller7',
    name: '을지로 문구 Euljiro Stationery & Books',
    classics: [],
    items: [
      ['노트', 'notebook', 4_500],
      ['다이어리', 'planner', 15_000],
      ['만년필', 'fountain pen', 45_000],
      ['볼펜 세트', 'ballpoint pens', 6_000],
      ['연필', 'pencils', 3_000],
      ['형광펜', 'highlighters', 4_000],
      ['스티커', 'stickers', 3_500],
      ['엽서', 'postcards', 2_000],
      ['필통', 'pencil case', 12_000],
      ['책갈피', 'bookmark', 5_000],
      ['소설책', 'novel', 14_800],
      ['그림책', 'picture book', 16_000],
      ['요리책', 'cookbook', 22_000],
    ],
    kinds: [
      ['A5', 'A5', 1],
      ['A6 포켓', 'A6 pocket', 0.8],
      ['한정판', 'limited edition', 1.5],
      ['3개 세트', 'set of 3', 2.6],
      ['선물 포장', 'gift-wrapped', 1.2],
    ],
    styles: [
      ['크라프트', 'kraft'],
      ['파스텔', 'pastel'],
      ['빈티지', 'vintage'],
      ['미니멀', 'minimal'],
      ['한지', 'hanji paper'],
      ['고양이', 'cat'],
      ['레트로', 'retro'],
    ],
    features: [
      ['을지로 인쇄소와 함께', 'made with an Euljiro print shop'],
      ['만년필에도 번지지 않는 종이', 'paper that fountain pens do not bleed through'],
      ['독립 출판', 'independent press'],
      ['친환경 재생지', 'recycled paper'],
      ['작가 친필 사인', 'signed by the author'],
    ],
    ko: (s, i, k) => `${s} ${i} ${k}`,
    en: (s, i, k) => `${cap(s)} ${i}, ${k}`,
  },
  {
    seller: 'seller8',
    name: '한남 리빙 Hannam Living',
    classics: [],
    items: [
      ['머그컵', 'mug', 12_000],
      ['텀블러', 'tumbler', 25_000],
      ['접시', 'plate', 15_000],
      ['밥그릇', 'rice bowl', 9_000],
      ['수저 세트', 'spoon and chopsticks', 18_000],
      ['프라이팬', 'frying pan', 39_000],
      ['냄비', 'pot', 49_000],
      ['도마', 'cutting board', 29_000],
      ['쿠션', 'cushion', 25_000],
      ['담요', 'blanket', 45_000],
      ['캔들', 'candle', 19_000],
      ['디퓨저', 'diffuser', 29_000],
      ['수건', 'towel', 9_000],
    ],
    kinds: [
      ['1인용', 'for one', 1],
      ['2인 세트', 'set for two', 1.8],
      ['4인 세트', 'set for four', 3.2],
      ['미니', 'mini', 0.7],
      ['대형', 'large', 1.4],
    ],
    styles: [
      ['모던', 'modern'],
      ['내추럴', 'natural'],
      ['빈티지', 'vintage'],
      ['미니멀', 'minimal'],
      ['무광', 'matte'],
      ['북유럽풍', 'Nordic'],
      ['한옥', 'hanok'],
    ],
    features: [
      ['식기세척기 사용 가능', 'dishwasher safe'],
      ['한남동 쇼룸에서 직접 보세요', 'see it in our Hannam showroom'],
      ['무료 배송', 'free shipping'],
      ['국내 공방 제작', 'made by Korean workshops'],
      ['30일 안에 교환', 'exchange within 30 days'],
    ],
    ko: (s, i, k) => `${s} ${i} ${k}`,
    en: (s, i, k) => `${cap(s)} ${i}, ${k}`,
  },
];

/** FNV-1a: a stable number from a name, for the values a product gets. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: a seeded generator, for the order the combinations are taken in. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Shop prices: 12,900 rather than 12,834. */
function shopPrice(won: number): number {
  if (won >= 100_000) return Math.round(won / 10_000) * 10_000 - 1_000;
  if (won >= 10_000) return Math.round(won / 1_000) * 1_000 - 100;
  return Math.max(500, Math.round(won / 100) * 100 - 100);
}

/** One in 20 sold out, the rest 1 to 300; views fall off like a long tail. */
function stockAndViews(name: string): { stock: number; viewCount: number } {
  const h = hash(name);
  return { stock: h % 20 === 0 ? 0 : 1 + (h % 300), viewCount: Math.floor(20_000 / (1 + ((h >>> 9) % 500))) };
}

function generate(spec: StoreSpec, seed: number): DemoProduct[] {
  const products: DemoProduct[] = spec.classics.map(([name, description, price]) => ({ name, description, price, ...stockAndViews(name) }));
  const combos: [number, number, number][] = [];
  for (let s = 0; s < spec.styles.length; s++) for (let i = 0; i < spec.items.length; i++) for (let k = 0; k < spec.kinds.length; k++) combos.push([s, i, k]);
  const rand = random(seed);
  for (let n = combos.length - 1; n > 0; n--) {
    const m = Math.floor(rand() * (n + 1));
    [combos[n], combos[m]] = [combos[m]!, combos[n]!];
  }
  for (const [s, i, k] of combos.slice(0, PRODUCTS_PER_STORE - products.length)) {
    const [styleKo, styleEn] = spec.styles[s]!;
    const [itemKo, itemEn, base] = spec.items[i]!;
    const [kindKo, kindEn, factor] = spec.kinds[k]!;
    const ko = spec.ko(styleKo, itemKo, kindKo);
    const en = spec.en(styleEn, itemEn, kindEn);
    const name = `${ko} ${en}`;
    const h = hash(name);
    const [f1, f2] = [spec.features[h % spec.features.length]!, spec.features[(h >>> 8) % spec.features.length]!];
    const features = f1 === f2 ? [f1] : [f1, f2];
    const description = `${ko}. ${features.map((f) => f[0]).join(', ')}. — ${en}: ${features.map((f) => f[1]).join(', ')}.`;
    products.push({ name, description, price: shopPrice(base * factor * (1 + 0.08 * (s % 4))), ...stockAndViews(name) });
  }
  return products;
}

/** The whole demo catalog, the same on every call. */
export function demoCatalog(): DemoStore[] {
  return STORES.map((spec, n) => ({ seller: spec.seller, name: spec.name, products: generate(spec, 1_000 + n) }));
}
