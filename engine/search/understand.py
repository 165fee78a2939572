"""Filters from words: price, colour, category and "not ..." phrases in English and Chinese.

"red running shoes under fifty dollars" -> colour red, category shoes, price <= 50, text "running".
"50元以下的红色T恤" -> price <= 50, colour red, text "T恤". "a bag, not leather" -> negative "leather".
Rule based and deliberately conservative: what it finds becomes editable filter chips in the UI.
Price phrases, colour words, category words and negations are taken out of the searched text; the
search adds the colour and category back as plain words to the CLIP query, so they still steer it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cache

CJK = r"\u3400-\u9fff"

COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red", "红色", "红"), "blue": ("blue", "蓝色", "蓝"), "green": ("green", "绿色", "绿"),
    "black": ("black", "黑色", "黑"), "white": ("white", "白色", "白"), "yellow": ("yellow", "黄色", "黄"),
    "pink": ("pink", "粉红色", "粉色", "粉红", "粉"), "purple": ("purple", "紫色", "紫"),
    "orange": ("orange", "橙色", "橘色", "橙"), "brown": ("brown", "棕色", "咖啡色", "褐色", "棕"),
    "grey": ("grey", "gray", "灰色", "灰"), "navy": ("navy", "藏青色", "藏青", "深蓝色"), "beige": ("beige", "米色"),
}  # fmt: skip
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "apparel": ("apparel", "clothes", "clothing", "服装", "衣服"),
    "shoes": ("shoes", "shoe", "footwear", "sneakers", "鞋子", "鞋"),
    "bags": ("bags", "bag", "luggage", "包包", "箱包", "背包", "手提包", "书包"),
    "accessories": ("accessories", "配饰", "饰品"),
    "sports": ("sports gear", "sporting goods", "运动用品", "体育用品"),
    "toys": ("toys", "toy", "玩具"),
    "kitchen": ("kitchenware", "cookware", "厨具", "厨房用品"),
    "home": ("furniture", "家具", "家居"),
    "electronics": ("electronics", "gadgets", "电子产品", "数码产品"),
    "food": ("food", "groceries", "食品", "食物"),
    "stationery": ("stationery", "文具"),
    "music": ("instruments", "musical instrument", "乐器"),
    "garden": ("gardening", "园艺"),
    "tools": ("tools", "工具"),
}  # fmt: skip

KEY_PREFIX = {"colours": "colour", "categories": "category"}

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000, "a": 1,
}  # fmt: skip
CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}

_NUMBER_NAMES = "|".join(sorted((w for w in NUMBER_WORDS if w != "a"), key=len, reverse=True))
_WORD_NUMBER = rf"\b(?:a\s+)?(?:{_NUMBER_NAMES})(?:[\s-]+(?:and\s+)?(?:{_NUMBER_NAMES}))*\b"
_CN_NUMBER = r"[零〇一二两三四五六七八九十百千万]+"
_SIGN = r"(?:[$¥￥]\s*)?"
_DIGIT_NUMBER = r"\d[\d,]*(?:\.\d+)?k?"
DIGITS = rf"{_SIGN}(?:{_DIGIT_NUMBER}|{_CN_NUMBER})"  # no number words: "twenty-five" is not a range
AMOUNT = rf"{_SIGN}(?:{_DIGIT_NUMBER}(?![a-z\d])|{_WORD_NUMBER}|{_CN_NUMBER})"
CURRENCY = r"(?:\s*(?:dollars?|bucks|usd|us\$|euros?|pounds?|quid|yuan|rmb|元|块钱|块|美元|美金|刀))"
MONEY = rf"(?:{AMOUNT}{CURRENCY}?)"

EN_MAX = r"under|below|less than|cheaper than|at most|up to|no more than|not more than|max(?:imum)?|within|<=?"
EN_MIN = r"over|above|more than|at least|from|starting at|min(?:imum)?|>=?"
CN_MAX = r"以下|以内|之内|内|或以下|或更少|及以下"
CN_MAX_BEFORE = r"低于|少于|不超过|不到|不高于|最多|小于|便宜于"
CN_MIN = r"以上|起|或以上|及以上"
CN_MIN_BEFORE = r"高于|超过|多于|大于|至少|不低于"

PRICE_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("range", re.compile(rf"(?:between|from)\s+(?P<a>{MONEY})\s+(?:and|to|-)\s+(?P<b>{MONEY})", re.I)),
    ("range", re.compile(rf"(?:价格)?(?:在)?(?P<a>{DIGITS}{CURRENCY}?)\s*(?:到|至|-|~|–)\s*(?P<b>{DIGITS}{CURRENCY}?)(?:之间)?(?:的)?", re.I)),
    ("range", re.compile(rf"(?P<a>{AMOUNT}{CURRENCY})\s+to\s+(?P<b>{MONEY})", re.I)),
    ("max", re.compile(rf"(?:for\s+|priced\s+|costing\s+)?(?:{EN_MAX})\s+(?P<a>{MONEY})", re.I)),
    ("max", re.compile(rf"(?P<a>{MONEY})\s+(?:or less|or under|or below|and under|and below|max|at most|or cheaper)", re.I)),
    ("max", re.compile(rf"(?:价格|价钱|售价)?(?:{CN_MAX_BEFORE})\s*(?P<a>{MONEY})(?:的)?", re.I)),
    ("max", re.compile(rf"(?:价格|价钱|售价)?(?P<a>{MONEY})\s*(?:{CN_MAX})(?:的)?", re.I)),
    ("min", re.compile(rf"(?:{EN_MIN})\s+(?P<a>{MONEY})", re.I)),
    ("min", re.compile(rf"(?P<a>{MONEY})\s*(?:or more|and up|and above|or above|\+|plus)", re.I)),
    ("min", re.compile(rf"(?:价格|价钱|售价)?(?:{CN_MIN_BEFORE})\s*(?P<a>{MONEY})(?:的)?", re.I)),
    ("min", re.compile(rf"(?:价格|价钱|售价)?(?P<a>{MONEY})\s*(?:{CN_MIN})(?:的)?", re.I)),
]  # fmt: skip
NEGATION = re.compile(
    rf"(?:,?\s*\b(?:but\s+)?(?:not|no|without|except|excluding)\s+(?P<en>[a-z][a-z-]*))"
    rf"|(?:(?:不要|不是|非|除了|没有)(?P<zh>[{CJK}]{{1,4}}?|[a-z]+)(?:的|材质|材料)?(?=$|[\s,，。、]|的))"
    r"|(?:(?<![\w-])-(?P<minus>[a-z][a-z-]*))",
    re.I,
)  # fmt: skip


@dataclass
class Understood:
    """What the words asked for beyond the search text itself.

    Each filter read from the words is a chip with a stable key (``price``, ``colour:red``,
    ``category:shoes``, ``not:leather``); ``sources`` maps every key to the words it came from, so a
    chip the shopper removes can be undone exactly (:meth:`without`).
    """

    text: str
    price_min: float | None = None
    price_max: float | None = None
    colours: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()
    phrases: list[str] = field(default_factory=list)  # the pieces of the query that became filters
    sources: dict[str, str] = field(default_factory=dict)  # chip key -> the words it was read from

    @property
    def keys(self) -> list[str]:
        """The chip keys in the order chips are shown: price, colours, categories, negatives."""
        keys = ["price"] if self.price_min is not None or self.price_max is not None else []
        keys += [f"colour:{c}" for c in self.colours] + [f"category:{c}" for c in self.categories]
        return keys + [f"not:{n}" for n in self.negatives]

    def chips(self) -> list[str]:
        chips = []
        if self.price_min is not None and self.price_max is not None:
            chips.append(f"price {self.price_min:g}–{self.price_max:g}")
        elif self.price_max is not None:
            chips.append(f"price ≤ {self.price_max:g}")
        elif self.price_min is not None:
            chips.append(f"price ≥ {self.price_min:g}")
        chips += [f"colour: {c}" for c in self.colours] + [f"category: {c}" for c in self.categories]
        return chips + [f"not: {n}" for n in self.negatives]

    def without(self, keys: Iterable[str]) -> Understood:
        """These chips removed. A removed colour or category goes back into the searched words, so it
        still steers the ranking without filtering; a removed price or "not ..." is gone entirely."""
        keys = set(keys) & set(self.keys)
        if not keys:
            return self
        restored = [self.sources[key] for key in self.keys if key in keys and key.split(":")[0] in ("colour", "category")]
        return replace(
            self,
            text=_tidy(" ".join([self.text, *restored])),
            price_min=None if "price" in keys else self.price_min,
            price_max=None if "price" in keys else self.price_max,
            colours=tuple(c for c in self.colours if f"colour:{c}" not in keys),
            categories=tuple(c for c in self.categories if f"category:{c}" not in keys),
            negatives=tuple(n for n in self.negatives if f"not:{n}" not in keys),
            phrases=[phrase for key, phrase in self.sources.items() if key not in keys],
            sources={key: phrase for key, phrase in self.sources.items() if key not in keys},
        )


def parse_number(text: str) -> float | None:
    """'$1,200', '29.99', '2k', 'fifty', 'twenty-five', '五十', '一百五', '两千' -> a number."""
    compact = re.sub(r"[$¥￥\s,]", "", text.lower())
    if re.fullmatch(_DIGIT_NUMBER, compact):
        return float(compact[:-1]) * 1000 if compact.endswith("k") else float(compact)
    if re.fullmatch(_CN_NUMBER, compact):
        return float(_chinese_number(compact))
    words = [w for w in re.findall(r"[a-z]+", text.lower()) if w != "and"]
    if words and all(w in NUMBER_WORDS for w in words):
        return float(_english_number(words))
    return None


def _english_number(words: list[str]) -> int:
    total, current = 0, 0
    for word in words:
        if word == "and":
            continue
        value = NUMBER_WORDS[word]
        if value == 100:
            current = max(current, 1) * 100
        elif value == 1000:
            total += max(current, 1) * 1000
            current = 0
        else:
            current += value
    return total + current


def _chinese_number(text: str) -> int:
    total, section, digit, last_unit = 0, 0, 0, 1
    for char in text:
        if char in CN_DIGITS:
            digit = CN_DIGITS[char]
        elif char == "万":
            total += (section + digit) * 10000
            section, digit, last_unit = 0, 0, 10000
        else:
            unit = CN_UNITS[char]
            section += max(digit, 1 if unit == 10 else digit) * unit
            digit, last_unit = 0, unit
    if digit and last_unit >= 100 and len(text) >= 2 and text[-2] in CN_UNITS:  # 一百五 = 150
        digit *= last_unit // 10
    return total + section + digit


def understand(text: str, colours: set[str] | None = None, categories: set[str] | None = None) -> Understood:
    """Find filters and negations in ``text``; ``colours``/``categories`` limit what may be chosen."""
    result = Understood(text=text)
    remaining = _take_price(text, result)
    remaining = _take_negations(remaining, result)
    remaining = _take_words(remaining, COLOUR_WORDS, colours, result, "colours", short_needs_suffix=True)
    remaining = _take_words(remaining, CATEGORY_WORDS, categories, result, "categories")
    result.text = _tidy(remaining)
    return result


def _take_price(text: str, result: Understood) -> str:
    for kind, pattern in PRICE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        first = parse_number(re.sub(CURRENCY + "$", "", match.group("a"), flags=re.I))
        second = parse_number(re.sub(CURRENCY + "$", "", match.group("b"), flags=re.I)) if kind == "range" else None
        if first is None or (kind == "range" and second is None):
            continue
        if kind == "range":
            result.price_min, result.price_max = sorted((first, second))  # type: ignore[arg-type]
        elif kind == "max":
            result.price_max = first
        else:
            result.price_min = first
        phrase = match.group().strip()
        result.phrases.append(phrase)
        result.sources["price"] = f"{result.sources['price']} {phrase}" if "price" in result.sources else phrase
        return _take_price(text[: match.start()] + " " + text[match.end() :], result)
    return text


def _take_negations(text: str, result: Understood) -> str:
    negatives = []
    for match in NEGATION.finditer(text):
        word = match.group("en") or match.group("zh") or match.group("minus")
        negatives.append(word.lower())
        result.phrases.append(match.group().strip(" ,"))
        result.sources.setdefault(f"not:{word.lower()}", match.group().strip(" ,"))
    result.negatives = tuple(dict.fromkeys(negatives))
    return NEGATION.sub(" ", text)


def _take_words(text: str, table: dict[str, tuple[str, ...]], allowed: set[str] | None, result: Understood,
                attribute: str, short_needs_suffix: bool = False) -> str:  # fmt: skip
    found: list[str] = []
    lowered = text.lower()
    for name, words in table.items():
        if allowed is not None and name not in allowed:
            continue
        for word in _longest_first(words):
            if word not in lowered:  # most words are not there: skip the regular expression
                continue
            match = _word_pattern(word, short_needs_suffix).search(text)
            if match:
                found.append(name)
                result.phrases.append(match.group())
                result.sources[f"{KEY_PREFIX[attribute]}:{name}"] = match.group()
                text = text[: match.start()] + " " + text[match.end() :]
                lowered = text.lower()
                break
    setattr(result, attribute, tuple(found))
    return text


@cache
def _longest_first(words: tuple[str, ...]) -> tuple[str, ...]:
    """A table's words for one value, longest first, so "粉红色" is taken before "粉"."""
    return tuple(sorted(words, key=len, reverse=True))


@cache  # the tables' words: a few hundred patterns at most
def _word_pattern(word: str, short_needs_suffix: bool) -> re.Pattern[str]:
    """Where ``word`` (lower case) stands as a word in a text: whole English words; a Chinese word
    with an optional 的, and with ``short_needs_suffix`` a one-character colour only before 色 or
    的, so 红茶 is not "red tea"."""
    if re.match(rf"[{CJK}]", word):
        pattern = rf"{word}(?=[色的])的?" if len(word) == 1 and short_needs_suffix else rf"{word}(?:的)?"
    else:
        pattern = rf"\b{re.escape(word)}\b"
    return re.compile(pattern, re.I)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.!?，。])", r"\1", text)
    text = re.sub(r"^(?:[,.，。\s]|(?:and|for|a|an|the|some)\b|的)+|(?:[,.，。\s]|\band|\bfor|\bthat cost|\bcosting|\bpriced|的)+$", "", text, flags=re.I)
    return text.strip()
