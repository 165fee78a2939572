"""Filters from words, in English and Chinese: many phrasings of price, colour, category and negation."""

import pytest

from engine.search.understand import parse_number, understand

COLOURS = {"red", "blue", "green", "black", "white", "yellow", "pink", "purple", "orange", "brown", "grey", "navy", "beige"}
CATEGORIES = {"apparel", "shoes", "bags", "accessories", "sports", "toys", "kitchen", "home", "electronics", "food",
              "stationery", "music", "garden", "tools"}  # fmt: skip

# query -> (price_min, price_max, colours, categories, negatives, remaining text)
CASES = {
    # English price phrases
    "running shoes under fifty dollars": (None, 50, (), ("shoes",), (), "running"),
    "below $30": (None, 30, (), (), (), ""),
    "lamp for less than 40 dollars": (None, 40, (), (), (), "lamp"),
    "teapot cheaper than $25": (None, 25, (), (), (), "teapot"),
    "guitar at most 300 bucks": (None, 300, (), (), (), "guitar"),
    "headphones up to $99.99": (None, 99.99, (), (), (), "headphones"),
    "camera no more than two hundred dollars": (None, 200, (), (), (), "camera"),
    "scarf max $20": (None, 20, (), (), (), "scarf"),
    "backpack 30 dollars or less": (None, 30, (), (), (), "backpack"),
    "mug $15 and under": (None, 15, (), (), (), "mug"),
    "laptop under 1,200 dollars": (None, 1200, (), (), (), "laptop"),
    "sofa under 2k": (None, 2000, (), (), (), "sofa"),
    "under a hundred dollars": (None, 100, (), (), (), ""),
    "one hundred and fifty dollars or less": (None, 150, (), (), (), ""),
    "toys for kids under twenty-five bucks": (None, 25, (), ("toys",), (), "kids"),
    "watch over $100": (100, None, (), (), (), "watch"),
    "piano above 500 dollars": (500, None, (), (), (), "piano"),
    "bike at least $250": (250, None, (), (), (), "bike"),
    "drill $80 and up": (80, None, (), (), (), "drill"),
    "jacket more than sixty dollars": (60, None, (), (), (), "jacket"),
    "shoes between $20 and $60": (20, 60, (), ("shoes",), (), ""),
    "from 10 to 20 dollars": (10, 20, (), (), (), ""),
    "$20-$50 mugs": (20, 50, (), (), (), "mugs"),
    "chair 40-90 dollars": (40, 90, (), (), (), "chair"),
    # Chinese price phrases
    "50元以下": (None, 50, (), (), (), ""),
    "50元以下的玩具": (None, 50, (), ("toys",), (), ""),
    "100块以内的耳机": (None, 100, (), (), (), "耳机"),
    "低于一百元的蓝色背包": (None, 100, ("blue",), ("bags",), (), ""),
    "不超过两百元的台灯": (None, 200, (), (), (), "台灯"),
    "五十元以内的文具": (None, 50, (), ("stationery",), (), ""),
    "价格低于30美元的杯子": (None, 30, (), (), (), "杯子"),
    "300元以上的吉他": (300, None, (), (), (), "吉他"),
    "高于一百五十元的鞋子": (150, None, (), ("shoes",), (), ""),
    "50到100元的玩具": (50, 100, (), ("toys",), (), ""),
    "价格在100-200元之间": (100, 200, (), (), (), ""),
    "二十至八十块的帽子": (20, 80, (), (), (), "帽子"),
    # colours and categories
    "红色的": (None, None, ("red",), (), (), ""),
    "红色的跑步鞋": (None, None, ("red",), ("shoes",), (), "跑步"),
    "红色 T恤": (None, None, ("red",), (), (), "T恤"),
    "黄色T恤100元以上": (100, None, ("yellow",), (), (), "T恤"),
    "粉色的泰迪熊": (None, None, ("pink",), (), (), "泰迪熊"),
    "a grey hoodie": (None, None, ("grey",), (), (), "hoodie"),
    "gray hoodie": (None, None, ("grey",), (), (), "hoodie"),
    "navy blue electronics": (None, None, ("navy", "blue"), ("electronics",), (), ""),
    "red running shoes under $100": (None, 100, ("red",), ("shoes",), (), "running"),
    "红茶": (None, None, (), (), (), "红茶"),  # red tea is not a red-coloured filter
    # negation
    "a bag, not leather": (None, None, (), ("bags",), ("leather",), ""),
    "jumper without wool": (None, None, (), (), ("wool",), "jumper"),
    "teddy bear but not pink": (None, None, (), (), ("pink",), "teddy bear"),
    "mug -ceramic": (None, None, (), (), ("ceramic",), "mug"),
    "不要黑色的": (None, None, (), (), ("黑色",), ""),
    "沙发不要皮革": (None, None, (), (), ("皮革",), "沙发"),
    # nothing to take
    "under armour jacket": (None, None, (), (), (), "under armour jacket"),
    "20-piece puzzle": (None, None, (), (), (), "20-piece puzzle"),
    "under 2kg dumbbell": (None, None, (), (), (), "under 2kg dumbbell"),
}


@pytest.mark.parametrize("query", list(CASES))
def test_filters_are_read_from_words(query):
    price_min, price_max, colours, categories, negatives, text = CASES[query]
    understood = understand(query, COLOURS, CATEGORIES)
    assert (understood.price_min, understood.price_max) == (price_min, price_max)
    assert set(understood.colours) == set(colours)
    assert set(understood.categories) == set(categories)
    assert understood.negatives == negatives
    assert understood.text == text


def test_there_are_many_phrasings_in_both_languages():
    chinese = [q for q in CASES if any("\u4e00" <= ch <= "\u9fff" for ch in q)]
    assert len(CASES) >= 40 and len(chinese) >= 15 and len(CASES) - len(chinese) >= 25


def test_only_colours_and_categories_the_catalogue_has_are_chosen():
    understood = understand("purple shoes", colours={"red"}, categories={"toys"})
    assert understood.colours == () and understood.categories == () and understood.text == "purple shoes"


def test_chips_describe_what_was_understood():
    understood = understand("红色的跑步鞋 50到100元 不要皮革", COLOURS, CATEGORIES)
    assert understood.chips() == ["price 50–100", "colour: red", "category: shoes", "not: 皮革"]


@pytest.mark.parametrize("text, value", [
    ("$1,200", 1200), ("29.99", 29.99), ("2k", 2000), ("fifty", 50), ("twenty-five", 25), ("a hundred", 100),
    ("one hundred and fifty", 150), ("three thousand", 3000), ("五十", 50), ("一百五", 150), ("两千", 2000),
    ("十五", 15), ("一百零五", 105), ("三千五百", 3500), ("一万", 10000), ("soon", None),
])  # fmt: skip
def test_numbers_in_digits_and_words(text, value):
    assert parse_number(text) == value
