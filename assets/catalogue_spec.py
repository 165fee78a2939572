"""What the bundled demo catalogue sells: items, colourways, categories, brands (all fictional)."""

from __future__ import annotations

from dataclasses import dataclass, field

# name -> (Chinese, RGB)
COLOURS: dict[str, tuple[str, tuple[int, int, int]]] = {
    "red": ("红色", (200, 30, 40)),
    "blue": ("蓝色", (30, 80, 200)),
    "green": ("绿色", (40, 150, 60)),
    "black": ("黑色", (35, 35, 38)),
    "white": ("白色", (236, 236, 232)),
    "yellow": ("黄色", (240, 200, 30)),
    "pink": ("粉色", (235, 120, 170)),
    "purple": ("紫色", (120, 50, 160)),
    "orange": ("橙色", (240, 130, 30)),
    "brown": ("棕色", (120, 75, 40)),
    "grey": ("灰色", (128, 128, 128)),
    "navy": ("藏青色", (25, 35, 90)),
    "beige": ("米色", (215, 195, 160)),
}

WARDROBE = ["red", "blue", "black", "green"]
BRIGHT = ["red", "blue", "yellow"]
PAIR = ["black", "white"]


@dataclass(frozen=True)
class Item:
    key: str
    category: str
    name: str
    name_zh: str
    price: tuple[float, float]
    clipart: str = ""  # file stem in openclipart-png
    render: str = ""  # or a drawing from render.py
    colours: list[str] | None = None  # None: one product in the drawing's own colours
    tags: tuple[str, ...] = field(default_factory=tuple)


def _items(category: str, price: tuple[float, float], colours: list[str] | None, rows: list[tuple]) -> list[Item]:
    """Rows of (key, English name, Chinese name, clip art stem or 'render:NAME', tags)."""
    items = []
    for key, name, name_zh, source, tags in rows:
        render = source.removeprefix("render:") if source.startswith("render:") else ""
        items.append(Item(key, category, name, name_zh, price, "" if render else source, render, colours, tuple(tags)))
    return items


ITEMS: list[Item] = [
    *_items("apparel", (15, 120), WARDROBE, [
        ("tshirt", "Classic T-Shirt", "经典T恤", "render:tshirt", ["t-shirt", "top", "casual"]),
        ("hoodie", "Hooded Sweatshirt", "连帽卫衣", "render:hoodie", ["hoodie", "sweatshirt", "warm"]),
        ("dress", "Summer Dress", "夏季连衣裙", "render:dress", ["dress", "women", "summer"]),
        ("trousers", "Straight Trousers", "直筒长裤", "render:trousers", ["trousers", "pants"]),
        ("skirt", "A-Line Skirt", "A字半身裙", "render:skirt", ["skirt", "women"]),
        ("jacket", "Zip Jacket", "拉链夹克", "render:jacket", ["jacket", "outerwear"]),
        ("jumper", "Knit Jumper", "针织毛衣", "render:jumper", ["jumper", "sweater", "knit", "cosy"]),
    ]),
    *_items("shoes", (35, 160), ["red", "blue", "black", "white", "green", "pink", "grey", "orange"], [
        ("running-shoe", "Running Shoe", "跑步鞋", "tennis_shoe_jarno_vasama_", ["running", "sneaker", "sport"]),
        ("trainers", "Classic Trainers", "经典运动鞋", "tennis_shoes_jarno_vasam_", ["sneaker", "trainers", "pair"]),
        ("hiking-boot", "Hiking Boot", "登山靴", "hiking_boot_jarno_vasama_", ["boot", "hiking", "outdoor"]),
    ]),
    *_items("bags", (25, 240), ["brown", "black", "red", "blue", "beige"], [
        ("tote", "Tote Bag", "托特包", "render:tote", ["tote", "shopping"]),
        ("backpack", "School Backpack", "双肩背包", "render:backpack", ["backpack", "school", "travel"]),
        ("handbag", "Structured Handbag", "手提包", "render:handbag", ["handbag", "women"]),
        ("beach-bag", "Beach Bag", "沙滩包", "borsa_estiva_architetto__01", ["beach", "summer"]),
        ("suitcase", "Travel Suitcase Set", "旅行箱套装", "valigie_bags_architetto__01", ["suitcase", "travel", "luggage"]),
    ]),
    *_items("accessories", (8, 90), ["red", "blue", "black"], [
        ("cap", "Baseball Cap", "棒球帽", "baseball_cap_ganson", ["cap", "hat", "sun"]),
        ("top-hat", "Top Hat", "高顶礼帽", "tophat_benji_park_01", ["hat", "formal"]),
        ("umbrella", "Folding Umbrella", "折叠伞", "umbrella", ["umbrella", "rain"]),
        ("keyring", "Key Ring", "钥匙圈", "keyring_as_", ["keys", "keyring"]),
        ("scarf", "Winter Scarf", "冬季围巾", "render:scarf", ["scarf", "winter"]),
        ("beanie", "Pompom Beanie", "毛线帽", "render:beanie", ["beanie", "hat", "winter"]),
        ("socks", "Crew Socks", "中筒袜", "render:socks", ["socks"]),
        ("belt", "Classic Belt", "腰带", "render:belt", ["belt"]),
    ]),
    *_items("sports", (12, 300), ["red", "blue"], [
        ("tennis-racket", "Tennis Racket", "网球拍", "tennis_racket_01", ["tennis", "racket"]),
        ("badminton-racket", "Badminton Racket", "羽毛球拍", "badminton_racket_brice_b_01", ["badminton", "racket"]),
        ("football", "Football", "足球", "soccer_ball_ganson", ["football", "soccer", "ball"]),
        ("baseball-glove", "Baseball Glove", "棒球手套", "baseball_glove_ganson", ["baseball", "glove"]),
        ("baseball-bat", "Baseball Bat", "棒球棒", "baseball_bat_ganson", ["baseball", "bat"]),
        ("helmet", "Football Helmet", "橄榄球头盔", "football_helmet_gerald_g_01", ["helmet", "football"]),
        ("surfboard", "Surfboard", "冲浪板", "surfboard_jurgen_01", ["surf", "beach", "water"]),
        ("volleyball", "Volleyball", "排球", "volley-ball_andrea_bianc_01", ["volleyball", "ball"]),
        ("bowling-ball", "Bowling Ball", "保龄球", "blowling_ball_01", ["bowling", "ball"]),
        ("cricket-bat", "Cricket Bat", "板球拍", "cricket_bat_01", ["cricket", "bat"]),
        ("dartboard", "Dartboard", "飞镖盘", "dartboard_ruud_steltenpo_01", ["darts", "game"]),
        ("bicycle", "City Bicycle", "城市自行车", "bicycle_01", ["bicycle", "bike", "cycling"]),
    ]),
    *_items("toys", (6, 80), ["brown", "pink"], [
        ("teddy", "Teddy Bear", "泰迪熊", "simple_teddy_bear_gerald_01", ["teddy bear", "plush", "kids"]),
        ("teddy-classic", "Classic Teddy", "经典泰迪熊", "teddybear_jarno_vasamaa_", ["teddy bear", "plush", "kids"]),
        ("teddy-soft", "Soft Bear", "柔软小熊", "stylized_teddy_bear_gera_01", ["teddy bear", "plush", "baby"]),
        ("robot", "Toy Robot", "玩具机器人", "robot_ganson", ["robot", "kids"]),
        ("duck", "Rubber Duck", "橡皮鸭", "rubber_duck1_ganson", ["bath", "duck", "baby"]),
        ("puzzle-cube", "Puzzle Cube", "魔方", "rubik", ["puzzle", "cube", "brain"]),
        ("blocks", "ABC Blocks", "字母积木", "abc_blocks_petri_lummema_01", ["blocks", "learning", "kids"]),
        ("train", "Toy Train", "玩具小火车", "kiddy_train_orlando_kara_", ["train", "kids"]),
        ("wagon", "Pull Wagon", "儿童拉车", "wagon_01", ["wagon", "outdoor", "kids"]),
        ("beach-ball", "Beach Ball", "沙滩球", "beach_ball_01", ["ball", "beach", "summer"]),
        ("boomerang", "Boomerang", "回旋镖", "boomerang_01", ["boomerang", "outdoor"]),
        ("paper-plane", "Paper Plane Kit", "纸飞机套装", "toy_paper_plane_01", ["plane", "craft"]),
    ]),
    *_items("kitchen", (5, 260), ["red", "blue", "white"], [
        ("mug", "Ceramic Mug", "陶瓷马克杯", "mug", ["mug", "coffee", "tea"]),
        ("teacup", "Teacup and Saucer", "茶杯茶碟", "teacup_ganson", ["tea", "cup"]),
        ("teapot", "Round Teapot", "圆形茶壶", "teapot_ganson", ["tea", "teapot"]),
        ("teapot-tall", "Tall Teapot", "高身茶壶", "a_teapot_01", ["tea", "teapot"]),
        ("coffee-machine", "Espresso Machine", "意式咖啡机", "macchina_caffe_architett_01", ["coffee", "espresso", "appliance"]),
        ("grill-forks", "Barbecue Forks", "烧烤叉", "forchettoni_da_grigliat_01", ["barbecue", "grill"]),
        ("meat-grinder", "Meat Grinder", "绞肉机", "meatgrinder_benji_park_", ["grinder", "cooking"]),
        ("glass", "Drinking Glass", "玻璃水杯", "glass", ["glass", "water"]),
    ]),
    *_items("home", (20, 900), ["brown", "grey", "blue"], [
        ("sofa", "Three-Seat Sofa", "三人沙发", "soft_blue_couch_jonadab_01", ["sofa", "couch", "living room"]),
        ("table", "Dining Table", "餐桌", "wooden_table_benji_park_01", ["table", "dining"]),
        ("side-table", "Square Side Table", "方形边桌", "small_square_table_01", ["table", "side table"]),
        ("chair", "Dining Chair", "餐椅", "sedia_in_legno_architett_01", ["chair", "dining"]),
        ("office-chair", "Office Chair", "办公椅", "poltrona_ufficio_archite_01", ["chair", "office", "desk"]),
        ("desk-lamp", "Desk Lamp", "台灯", "desk_lamp_gerald_g._01", ["lamp", "light", "desk"]),
        ("light-bulb", "LED Light Bulb", "LED灯泡", "lamp_sergio_luiz_araujo__01", ["light bulb", "light", "led"]),
        ("lantern", "Hurricane Lantern", "防风灯", "hurricane_lamp_ganson", ["lantern", "light", "camping"]),
    ]),
    *_items("electronics", (15, 1500), ["black", "white"], [
        ("laptop", "Laptop 14-inch", "14英寸笔记本电脑", "laptop", ["laptop", "computer"]),
        ("laptop-pro", "Laptop Pro 15-inch", "15英寸专业笔记本", "laptop_01", ["laptop", "computer"]),
        ("compact-camera", "Compact Camera", "便携数码相机", "digital_camera_nicu_bucu_01", ["camera", "photo"]),
        ("film-camera", "Film Camera", "胶片相机", "camera_michael_tunniclif_01", ["camera", "film", "retro"]),
        ("tv", "Television", "电视机", "television_alexander_d.__01", ["tv", "screen"]),
        ("headphones", "Over-Ear Headphones", "头戴式耳机", "headphones_davide_pesent_", ["headphones", "audio", "music"]),
        ("phone", "Mobile Phone", "手机", "mobile_phone_01", ["phone", "mobile"]),
        ("keyboard", "Computer Keyboard", "电脑键盘", "keyboard", ["keyboard", "computer"]),
        ("mouse", "Computer Mouse", "电脑鼠标", "mouse", ["mouse", "computer"]),
        ("boombox", "Boombox Speaker", "手提音响", "boombox_linda_kim_01", ["speaker", "radio", "music"]),
        ("camcorder", "Camcorder", "摄像机", "camcorder_jaime_sanchez1", ["video", "camera"]),
        ("printer", "Inkjet Printer", "喷墨打印机", "printer", ["printer", "office"]),
    ]),
    *_items("food", (1, 25), None, [
        ("apple", "Red Apples", "红苹果", "apple", ["fruit", "fresh"]),
        ("banana", "Bananas", "香蕉", "banana", ["fruit", "fresh"]),
        ("orange", "Oranges", "橙子", "orange", ["fruit", "fresh", "citrus"]),
        ("cherries", "Cherries", "樱桃", "cherries", ["fruit", "fresh"]),
        ("strawberry", "Strawberries", "草莓", "strawberry", ["fruit", "fresh", "berries"]),
        ("pineapple", "Pineapple", "菠萝", "pineapple", ["fruit", "tropical"]),
        ("watermelon", "Watermelon", "西瓜", "watermelon_simple", ["fruit", "summer"]),
        ("grapes", "Grapes", "葡萄", "grapes_01", ["fruit", "fresh"]),
        ("lemon", "Lemons", "柠檬", "lemon", ["fruit", "citrus"]),
        ("pear", "Pears", "梨", "pear", ["fruit", "fresh"]),
        ("bread", "Farmhouse Bread", "农家面包", "bread", ["bread", "bakery"]),
        ("croissant", "Butter Croissant", "黄油牛角包", "croissant_01", ["bakery", "breakfast"]),
        ("cheese", "Aged Cheese", "陈年奶酪", "cheese_01", ["cheese", "dairy"]),
        ("cake", "Birthday Cake", "生日蛋糕", "birthday_cake", ["cake", "party", "dessert"]),
        ("muffin", "Blueberry Muffin", "蓝莓松饼", "muffin_jean_victor_balin_", ["bakery", "dessert"]),
        ("pretzel", "Soft Pretzel", "软椒盐卷饼", "pretzel_01", ["bakery", "snack"]),
        ("candy", "Candy Mix", "什锦糖果", "candy_01", ["sweets", "candy"]),
        ("lollipop", "Swirl Lollipop", "螺旋棒棒糖", "lollipop_dave_pena_01", ["sweets", "candy"]),
        ("ice-cream", "Ice Cream Cone", "冰淇淋甜筒", "ice_cream_cone_linda_kim_01", ["dessert", "summer"]),
        ("apple-pie", "Apple Pie", "苹果派", "pie_apple", ["pie", "dessert", "bakery"]),
        ("pancakes", "Pancake Mix", "松饼粉", "pancakes_ganson", ["breakfast"]),
        ("corn", "Sweet Corn", "甜玉米", "corn_cob", ["vegetable", "fresh"]),
        ("coffee-beans", "Coffee", "咖啡", "coffee", ["coffee", "drink"]),
        ("milk", "Fresh Milk", "鲜牛奶", "milk_carton_jarno_vasama_", ["milk", "dairy", "drink"]),
    ]),
    *_items("stationery", (1, 45), ["red", "blue", "green"], [
        ("pen", "Ballpoint Pen", "圆珠笔", "ballpoint_pen_jonathan_d_01", ["pen", "writing", "office"]),
        ("crayon", "Wax Crayon", "蜡笔", "crayon", ["crayon", "drawing", "kids"]),
        ("eraser", "Eraser", "橡皮擦", "eraser", ["eraser", "school"]),
        ("calculator", "Calculator", "计算器", "calculator", ["calculator", "office", "school"]),
        ("clipboard", "Clipboard", "写字板", "clipboard_01", ["clipboard", "office"]),
        ("notebook", "Hardcover Notebook", "精装笔记本", "book_01", ["notebook", "writing"]),
        ("diary", "Diary", "日记本", "diary_costea_bogdan_01", ["diary", "writing"]),
        ("folder", "Document Folder", "文件夹", "folder1", ["folder", "office"]),
        ("scissors", "Paper Scissors", "剪刀", "scissors", ["scissors", "craft", "office"]),
    ]),
    *_items("music", (20, 2500), ["red", "black"], [
        ("electric-guitar", "Electric Guitar", "电吉他", "electric_guitar_andrea__01r", ["guitar", "electric", "rock"]),
        ("acoustic-guitar", "Acoustic Guitar", "木吉他", "guitar_ganson", ["guitar", "acoustic"]),
        ("bass", "Bass Guitar", "贝斯", "bass_guitar_a.j._ashton_", ["bass", "guitar"]),
        ("violin", "Violin", "小提琴", "violin_colour_ganson", ["violin", "strings", "classical"]),
        ("cello", "Cello", "大提琴", "cello_ganson", ["cello", "strings", "classical"]),
        ("trumpet", "Trumpet", "小号", "trumpet_b_flat_colour_ganso", ["trumpet", "brass"]),
        ("saxophone", "Saxophone", "萨克斯管", "saxophone_jarno_vasamaa_", ["saxophone", "jazz"]),
        ("drums", "Drum Kit", "架子鼓", "drums_jarno_vasamaa_", ["drums", "percussion"]),
        ("piano", "Upright Piano", "立式钢琴", "piano_geraint_luff_01", ["piano", "keys"]),
        ("flute", "Flute", "长笛", "flute_ganson", ["flute", "woodwind"]),
        ("maracas", "Maracas", "沙锤", "maracas_ganson", ["maracas", "percussion"]),
        ("xylophone", "Xylophone", "木琴", "xylophone_ganson", ["xylophone", "percussion", "kids"]),
    ]),
    *_items("garden", (4, 120), None, [
        ("cactus", "Potted Cactus", "盆栽仙人掌", "cactus_linda_kim_01", ["plant", "cactus", "indoor"]),
        ("tulips", "Tulip Bulbs", "郁金香种球", "tulips_ganson", ["flowers", "tulip", "spring"]),
        ("sunflower", "Sunflower Seeds", "向日葵种子", "sun_flower_ganson", ["flowers", "seeds", "summer"]),
        ("geranium", "Geranium Plant", "天竺葵", "geranium_ganson", ["flowers", "plant"]),
        ("bouquet", "Flower Bouquet", "花束", "bouquet_of_flowers_01", ["flowers", "gift"]),
        ("flower-pot", "Flower Pot", "花盆", "flower-pot_01", ["pot", "plant"]),
    ]),
    *_items("garden", (8, 150), ["green", "red", "yellow"], [
        ("rake", "Leaf Rake", "落叶耙", "leafrake_benji_park_01", ["rake", "leaves", "tools"]),
        ("shears", "Hedge Shears", "绿篱剪", "hedgeshear_benji_park_01", ["shears", "hedge", "tools"]),
        ("cultivator", "Hand Cultivator", "手持松土器", "cultivator_benji_park_01", ["soil", "tools"]),
        ("bucket", "Garden Bucket", "园艺水桶", "bucket_michael_moore_", ["bucket", "water"]),
    ]),
    *_items("tools", (6, 220), ["orange", "blue"], [
        ("hammer", "Claw Hammer", "羊角锤", "hammer_nicu_buculei_01", ["hammer", "diy"]),
        ("drill", "Power Drill", "电钻", "drill_peterm_", ["drill", "power tool", "diy"]),
        ("axe", "Wood Axe", "伐木斧", "axe_peterm_", ["axe", "wood", "outdoor"]),
        ("paint-brush", "Paint Brush", "油漆刷", "paint_brush_linda_kim_01", ["paint", "brush", "diy"]),
        ("padlock", "Padlock", "挂锁", "padlock_aj_ashton_01", ["lock", "security"]),
        ("compass", "Hiking Compass", "指南针", "compass_01", ["compass", "outdoor", "navigation"]),
        ("magnifier", "Magnifying Glass", "放大镜", "magnifying_glass_01", ["magnifier", "reading"]),
        ("vacuum", "Vacuum Cleaner", "吸尘器", "blue_vacuum_cleaner_jaim_01", ["vacuum", "cleaning", "appliance"]),
        ("broom", "Broom", "扫帚", "broom_nicu_buculei_01", ["broom", "cleaning"]),
    ]),
]

CATEGORIES: dict[str, dict] = {
    "apparel": {"blurb": "A {colour} {name} from {brand}, cut from soft {material} for everyday comfort.",
                "blurb_zh": "{brand}出品的{colour}{name}，采用柔软的{material}，日常穿着舒适。",
                "materials": [("cotton", "纯棉"), ("organic cotton", "有机棉"), ("linen", "亚麻"), ("wool blend", "羊毛混纺")]},
    "shoes": {"blurb": "{brand} {name} in {colour}: cushioned sole, {material} upper, made for long days on your feet.",
              "blurb_zh": "{brand}{colour}{name}：缓震鞋底，{material}鞋面，久穿不累。",
              "materials": [("mesh", "透气网布"), ("leather", "皮革"), ("suede", "麂皮"), ("canvas", "帆布")]},
    "bags": {"blurb": "A {colour} {name} by {brand} in durable {material}, with room for all your essentials.",
             "blurb_zh": "{brand}{colour}{name}，耐用{material}材质，日常物品轻松装下。",
             "materials": [("leather", "皮革"), ("canvas", "帆布"), ("nylon", "尼龙"), ("recycled polyester", "再生涤纶")]},
    "accessories": {"blurb": "{brand}'s {colour} {name} in {material}: the small finishing touch to any outfit.",
                    "blurb_zh": "{brand}{colour}{name}，{material}材质，为穿搭增添点睛之笔。",
                    "materials": [("wool", "羊毛"), ("cotton", "棉"), ("leather", "皮革"), ("metal", "金属")]},
    "sports": {"blurb": "{colour} {name} from {brand}, built from {material} for training and match days.",
               "blurb_zh": "{brand}{colour}{name}，{material}打造，适合训练与比赛。",
               "materials": [("carbon fibre", "碳纤维"), ("rubber", "橡胶"), ("aluminium", "铝合金"), ("wood", "木材")]},
    "toys": {"blurb": "A {colour} {name} by {brand}, made of child-safe {material}. For ages 3 and up.",
             "blurb_zh": "{brand}{colour}{name}，采用儿童安全的{material}制成，适合3岁以上。",
             "materials": [("plush", "毛绒"), ("wood", "木材"), ("plastic", "塑料"), ("cotton", "棉")]},
    "kitchen": {"blurb": "{brand} {name} in {colour}, {material}, dishwasher safe and made to last.",
                "blurb_zh": "{brand}{colour}{name}，{material}材质，可用洗碗机清洗，经久耐用。",
                "materials": [("ceramic", "陶瓷"), ("stainless steel", "不锈钢"), ("glass", "玻璃"), ("porcelain", "瓷")]},
    "home": {"blurb": "A {colour} {name} from {brand} in solid {material}, easy to assemble and built for years.",
             "blurb_zh": "{brand}{colour}{name}，实心{material}，安装简单，经久耐用。",
             "materials": [("oak", "橡木"), ("pine", "松木"), ("steel", "钢"), ("walnut", "胡桃木")]},
    "electronics": {"blurb": "{brand} {name} in {colour} with a {material} body and a two-year warranty.",
                    "blurb_zh": "{brand}{colour}{name}，{material}机身，两年质保。",
                    "materials": [("aluminium", "铝合金"), ("plastic", "塑料"), ("magnesium", "镁合金")]},
    "food": {"blurb": "{name} from {brand}, {material}, picked and packed fresh for your table.",
             "blurb_zh": "{brand}{name}，{material}，新鲜采摘包装，直送餐桌。",
             "materials": [("organic", "有机"), ("locally grown", "本地种植"), ("fair trade", "公平贸易")]},
    "stationery": {"blurb": "A {colour} {name} by {brand}, {material}, for school, office and home.",
                   "blurb_zh": "{brand}{colour}{name}，{material}，适合学校、办公与家庭使用。",
                   "materials": [("recycled plastic", "再生塑料"), ("paper", "纸质"), ("metal", "金属")]},
    "music": {"blurb": "{brand} {name} in {colour}, crafted from {material} with a warm, rich tone.",
              "blurb_zh": "{brand}{colour}{name}，{material}制作，音色温暖饱满。",
              "materials": [("spruce", "云杉木"), ("maple", "枫木"), ("brass", "黄铜"), ("mahogany", "桃花心木")]},
    "garden": {"blurb": "{name} from {brand} ({colour}), {material}, to make your garden thrive.",
               "blurb_zh": "{brand}{name}（{colour}），{material}，让花园生机盎然。",
               "materials": [("steel", "钢"), ("terracotta", "陶土"), ("organic", "有机"), ("ash wood", "白蜡木")]},
    "tools": {"blurb": "{brand} {name} in {colour} with a {material} grip, tough enough for every job.",
              "blurb_zh": "{brand}{colour}{name}，{material}握柄，坚固耐用，胜任各种工作。",
              "materials": [("rubber", "橡胶"), ("fibreglass", "玻璃纤维"), ("hardwood", "硬木")]},
}

BRANDS: dict[str, list[str]] = {
    "apparel": ["Northpeak", "Linen & Loom", "Urban Thread"], "shoes": ["Stride", "Trailhawk", "Pacer"],
    "bags": ["Carryall", "Harbor & Hide"], "accessories": ["Little Details", "Harbor & Hide"],
    "sports": ["ProServe", "Fieldline"], "toys": ["Kiko Kids", "Playwell"], "kitchen": ["Hearth", "Kettle & Co"],
    "home": ["Oakhaus", "Lumen"], "electronics": ["Voltix", "Nimbus"], "food": ["Green Basket", "Farmgate"],
    "stationery": ["Inkwell", "Paperlane"], "music": ["Sonora", "Crescendo"], "garden": ["Bloomfield", "Greenhand"],
    "tools": ["Forgeworks", "Handyman"],
}  # fmt: skip
