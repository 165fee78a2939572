"""Shopper-facing words in English and Chinese: notices, chips, facets, reasons and error messages.

The engine speaks both languages so that every caller (the web page, the JSON API, an MCP client)
gets the same sentences. ``text(key, lang, **values)`` looks a sentence up; ``category_label`` and
``colour_label`` name catalogue values; ``error_text`` translates the message of a
:class:`~engine.errors.ShopLensError`. Error messages are written in English where they are raised
(they are also log lines), and translated here by pattern, so a raise site stays one readable line.
"""

from __future__ import annotations

import logging
import re
from typing import Literal

from engine.catalogue.products import Product
from engine.search.understand import CATEGORY_WORDS, COLOUR_WORDS

log = logging.getLogger(__name__)

Lang = Literal["en", "zh"]
LANGUAGES: tuple[Lang, ...] = ("en", "zh")

TEXTS: dict[str, dict[Lang, str]] = {
    # result summary
    "summary.results": {"en": "{count} results for “{query}”", "zh": "“{query}”的 {count} 个结果"},
    "summary.results.one": {"en": "1 result for “{query}”", "zh": "“{query}”的 1 个结果"},
    "summary.top": {"en": "Best {shown} of {count} results for “{query}”", "zh": "“{query}”的 {count} 个结果中最匹配的 {shown} 个"},
    "summary.browse": {"en": "{count} products", "zh": "{count} 件商品"},
    "summary.browse.one": {"en": "1 product", "zh": "1 件商品"},
    "summary.none": {"en": "No results for “{query}”", "zh": "没有找到“{query}”"},
    "summary.none.browse": {"en": "No products match these filters", "zh": "没有符合这些筛选条件的商品"},
    "query.photo": {"en": "your photo", "zh": "你的照片"},
    "query.photo_and": {"en": "your photo + “{words}”", "zh": "你的照片 + “{words}”"},
    # notices
    "notice.browse_all": {
        "en": "Showing our best-rated products. Type, add a photo or speak to search.",
        "zh": "正在展示评分最高的商品。输入文字、上传照片或说话即可搜索。",
    },
    "notice.browse_filters": {"en": "Browsing by your filters, best rated first.", "zh": "按你的筛选条件浏览，评分高的在前。"},
    "notice.long_query": {
        "en": "Your query was long, so only its first {limit} characters were used.",
        "zh": "你的搜索内容太长，只使用了前 {limit} 个字符。",
    },
    "notice.trimmed_audio": {
        "en": "Only the first {seconds:g} s of the recording were used.",
        "zh": "只使用了录音的前 {seconds:g} 秒。",
    },
    "notice.personalised": {
        "en": "Personalised for you: products like the ones you viewed and bought rank higher.",
        "zh": "已为你个性化：和你浏览、购买过的相似的商品排得更靠前。",
    },
    "notice.empty_catalogue": {"en": "The catalogue is empty.", "zh": "商品目录是空的。"},
    "notice.no_match": {
        "en": "Nothing matches all of your filters. Without {filter}, the nearest products are below.",
        "zh": "没有同时符合所有筛选条件的商品。去掉“{filter}”后，最接近的商品如下。",
    },
    "notice.no_match_words": {
        "en": "Nothing matches those words exactly. Here is what you get if we {action}.",
        "zh": "没有完全匹配这些词的商品。以下是{action}后的结果。",
    },
    "notice.no_match_at_all": {
        "en": "Nothing matches, even with fewer filters. Try other words or clear the filters.",
        "zh": "即使减少筛选条件也没有找到。换个说法或清除筛选条件试试。",
    },
    "notice.corrected": {
        "en": "Showing results for “{corrected}”. Remove the spelling chip to search for “{typed}” as typed.",
        "zh": "正在显示“{corrected}”的结果。删除拼写标签可按原文“{typed}”搜索。",
    },
    "notice.heard": {"en": "You said: “{text}”", "zh": "你说的是：“{text}”"},
    # what works right now
    "status.photo_off": {
        "en": "Photo search needs the CLIP model, which could not be loaded: {reason} Searching by words only.",
        "zh": "照片搜索需要 CLIP 模型，但未能加载：{reason} 目前只能按文字搜索。",
    },
    "status.voice_off": {
        "en": "Voice search needs a Whisper model, which could not be loaded: {reason}",
        "zh": "语音搜索需要 Whisper 模型，但未能加载：{reason}",
    },
    "status.catalogue_failed": {
        "en": "The new catalogue could not be served: {reason} The shop goes on serving the catalogue it had.",
        "zh": "新的商品目录未能启用：{reason} 商店继续使用原来的目录。",
    },
    "status.indexing": {
        "en": "Indexing the catalogue: {done} / {total}. Search covers what is indexed so far.",
        "zh": "正在为商品建立索引：{done} / {total}。搜索范围为已完成的部分。",
    },
    "notice.reviews_pending": {
        "en": "Reading the reviews: “Best reviewed” and “★ & up (by reviews)” work in a moment.",
        "zh": "正在分析评价：“评价最好”排序和“★ 及以上（按评价）”稍后即可使用。",
    },
    # chips (filters read from the words)
    "chip.price_range": {"en": "{low}–{high}", "zh": "{low}–{high}"},
    "chip.price_max": {"en": "≤ {high}", "zh": "≤ {high}"},
    "chip.price_min": {"en": "≥ {low}", "zh": "≥ {low}"},
    "chip.colour": {"en": "colour: {value}", "zh": "颜色：{value}"},
    "chip.category": {"en": "{value}", "zh": "{value}"},
    "chip.not": {"en": "not: {value}", "zh": "不要：{value}"},
    "chip.spelling": {"en": "{typed} → {corrected}", "zh": "{typed} → {corrected}"},
    "chip.synonyms": {"en": "+ {added}", "zh": "+ {added}"},
    "relax.spelling": {"en": "fix more spellings", "zh": "纠正更多拼写"},
    "relax.meaning": {"en": "search by meaning, not just words", "zh": "按含义搜索，而不只是关键词"},
    # the shopper's own filters, named when offered for removal
    "own.categories": {"en": "your category filter ({values})", "zh": "你的类别筛选（{values}）"},
    "own.colours": {"en": "your colour filter ({values})", "zh": "你的颜色筛选（{values}）"},
    "own.price": {"en": "your price filter ({values})", "zh": "你的价格筛选（{values}）"},
    "own.rating": {"en": "your rating filter ({values})", "zh": "你的评分筛选（{values}）"},
    # facets
    "facet.category": {"en": "Category", "zh": "类别"},
    "facet.colour": {"en": "Colour", "zh": "颜色"},
    "facet.price": {"en": "Price", "zh": "价格"},
    "facet.rating": {"en": "Rating", "zh": "评分"},
    "price.under": {"en": "under {high}", "zh": "{high} 以下"},
    "price.between": {"en": "{low}–{high}", "zh": "{low}–{high}"},
    "price.over": {"en": "{low} and up", "zh": "{low} 以上"},
    "rating.at_least": {"en": "{stars}★ & up", "zh": "{stars}★ 及以上"},
    "rating.by_reviews": {"en": "{stars}★ & up (by reviews)", "zh": "{stars}★ 及以上（按评价）"},
    "rating.none": {"en": "not rated yet", "zh": "暂无评分"},
    # personal reasons and For you
    "reason.viewed": {"en": "because you viewed {title}", "zh": "因为你看过{title}"},
    "reason.colour": {"en": "you often choose {colour}", "zh": "你常选{colour}"},
    "reason.price": {"en": "in your usual price range", "zh": "在你常买的价位"},
    "reason.picked": {"en": "picked for you", "zh": "为你挑选"},
    "reason.popular": {"en": "popular and highly rated", "zh": "热门且高分"},
    "for_you.cold": {
        "en": "Popular and highly rated right now. View, cart or buy a few products and this row learns your taste.",
        "zh": "当前热门且高分的商品。浏览、加购或购买几件商品后，这里会学习你的喜好。",
    },
    "for_you.warm": {"en": "From what you viewed, carted, bought and searched.", "zh": "根据你浏览、加购、购买和搜索过的内容。"},
    # actions
    "action.cart": {"en": "Added to your cart: {title}", "zh": "已加入购物车：{title}"},
    "action.purchase": {"en": "Bought: {title}", "zh": "已购买：{title}"},
    "action.forgot_one": {"en": "Forgot event {id}.", "zh": "已删除记录 {id}。"},
    "action.forgot_all": {"en": "Deleted all {count} of your events.", "zh": "已删除你的全部 {count} 条记录。"},
    "review.posted": {"en": "Thanks, your review is posted.", "zh": "谢谢，你的评价已发布。"},
    "pairing.joined": {
        "en": "This device now shares one profile with your other device ({events} events moved).",
        "zh": "这台设备已与你的另一台设备共用一个档案（合并了 {events} 条记录）。",
    },
    "pairing.unpaired": {"en": "This device has its own profile again from now on.", "zh": "从现在起，这台设备重新使用自己的档案。"},
    "pairing.not_paired": {"en": "This device was not paired.", "zh": "这台设备没有配对。"},
    "forget.done": {
        "en": "Forgotten: {events} events; reviews deleted {deleted}, kept as “a shopper” {anonymised}.",
        "zh": "已删除：{events} 条记录；删除评价 {deleted} 条，匿名保留 {anonymised} 条。",
    },
    # profile
    "age.just_now": {"en": "just now", "zh": "刚刚"},
    "age.minutes": {"en": "{n} min ago", "zh": "{n} 分钟前"},
    "age.hours": {"en": "{n} h ago", "zh": "{n} 小时前"},
    "age.days": {"en": "{n} days ago", "zh": "{n} 天前"},
    "event.search": {"en": "search", "zh": "搜索"},
    "event.view": {"en": "view", "zh": "浏览"},
    "event.cart": {"en": "cart", "zh": "加购"},
    "event.purchase": {"en": "purchase", "zh": "购买"},
}

# Chinese names for the catalogue values the understanding tables know; others keep their own name.
CATEGORY_ZH = {name: next(w for w in words if re.search(r"[\u4e00-\u9fff]", w)) for name, words in CATEGORY_WORDS.items()}
COLOUR_ZH = {name: next(w for w in words if re.search(r"[\u4e00-\u9fff]", w)) for name, words in COLOUR_WORDS.items()}

# Error messages raised in English (see engine/errors.py) and their Chinese form. The first pattern
# that matches the whole message wins; its named groups fill the Chinese template.
ERRORS_ZH: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), zh)
    for p, zh in [
        (r"The image upload did not arrive; please try again\.", "图片没有上传成功，请再试一次。"),
        (r"An unexpected error stopped it; the server's log has the details\.", "一个意外错误中断了它；详情见服务器日志。"),
        (r"The image file is empty\.", "图片文件是空的。"),
        (r"The image is too large \((?P<size>[\d.]+) MB; limit (?P<limit>\d+) MB\)\.", "图片太大（{size} MB，上限 {limit} MB）。"),
        (r"This file is not an image we can read\. Please upload (?P<kinds>.+)\.", "无法读取这个图片文件。请上传 {kinds} 格式。"),
        (r"The image has too many pixels to process safely\.", "图片像素太多，无法安全处理。"),
        (r"The image file is damaged or incomplete; please try another file\.", "图片文件已损坏或不完整，请换一个文件。"),
        (r"The image has no pixels\.", "图片没有像素。"),
        (r"The image is too large to process \((?P<dims>\d+x\d+) pixels; limit (?P<limit>\d+) megapixels\)\.",
         "图片尺寸太大（{dims} 像素，上限 {limit} 百万像素）。"),
        (r"The audio upload did not arrive; please try again\.", "录音没有上传成功，请再试一次。"),
        (r"The audio file is empty\.", "音频文件是空的。"),
        (r"The audio file is too large \((?P<size>[\d.]+) MB; limit (?P<limit>\d+) MB\)\.", "音频文件太大（{size} MB，上限 {limit} MB）。"),
        (r"The audio file took too long to decode; try a shorter clip\.", "音频解码时间过长，请换一段更短的录音。"),
        (r"This file is not audio we can read\. Please upload (?P<kinds>.+)\.", "无法读取这个音频文件。请上传 {kinds} 格式。"),
        (r"The recording is too short \((?P<seconds>[\d.]+) s\); please say a few words\.", "录音太短（{seconds} 秒），请多说几个字。"),
        (r"The file holds no audio\.", "文件里没有音频。"),
        (r"The recording is longer than (?P<limit>[\d.]+) s; please keep voice searches short\.", "录音超过 {limit} 秒，语音搜索请尽量简短。"),
        (r"No speech detected: the recording is silent\. Check the microphone and try again\.", "没有检测到语音：录音是静音的。请检查麦克风后再试。"),
        (r"No speech detected in the recording\. Please speak clearly and try again\.", "录音中没有检测到语音。请清楚地说话后再试。"),
        (r"No speech detected.*", "没有检测到语音，请清楚地说话后再试。"),
        (r"Please check the filters: the lowest price is above the highest price\.", "请检查筛选条件：最低价高于最高价。"),
        (r"Please check the filters: (?P<reasons>.+)\.", "请检查筛选条件：{reasons}。"),
        (r"That product is no longer in the catalogue\.", "这件商品已经不在目录中了。"),
        (r"Voice notes are not available on this server\.", "此服务器不支持语音评价。"),
        (r"This browser has no shopper id yet; reload the page and try again\.", "这个浏览器还没有购物者编号，请刷新页面后再试。"),
        (r"Please give the product 1 to 5 stars\.", "请给商品打 1 到 5 颗星。"),
        (r"Please write a few words, or record a voice note\.", "请写几句话，或录一段语音。"),
        (r"The review is too long \((?P<n>\d+) characters; the limit is (?P<limit>\d+)\)\.", "评价太长了（{n} 个字符，上限 {limit}）。"),
        (r"That pairing code is not valid\. Check it, or ask the other device for a new one\.",
         "配对码无效。请检查，或在另一台设备上重新生成。"),
        (r"That pairing code has expired \(codes last ten minutes\)\. Ask the other device for a new one\.",
         "配对码已过期（有效期十分钟）。请在另一台设备上重新生成。"),
        (r"This code was made on this device: enter it on your other device\.", "这个配对码是本设备生成的，请在另一台设备上输入。"),
        (r"That pairing code has already been used.*", "这个配对码已经用过了。请在另一台设备上重新生成。"),
        (r"Photo search needs the CLIP model, which this server could not load\. Search with words instead\.",
         "照片搜索需要 CLIP 模型，但服务器未能加载它。请用文字搜索。"),
        (r"That file did not come from an upload\. Please upload it again\.", "这个文件不是上传的文件，请重新上传。"),
    ]
]  # fmt: skip


def language(value: str | None) -> Lang:
    """``zh`` for any Chinese tag (``zh``, ``zh-CN``, an Accept-Language header starting with one)."""
    first = (value or "").split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"


def text(key: str, lang: Lang, **values: object) -> str:
    """The sentence ``key`` in ``lang``, with ``values`` filled in."""
    return TEXTS[key][lang].format(**values)


def category_label(name: str, lang: Lang) -> str:
    return CATEGORY_ZH.get(name, name) if lang == "zh" else name


def colour_label(name: str, lang: Lang) -> str:
    return COLOUR_ZH.get(name, name) if lang == "zh" else name


def product_title(product: Product, lang: Lang) -> str:
    return (product.title_zh or product.title) if lang == "zh" else product.title


def age_text(seconds: float, lang: Lang) -> str:
    for key, size in (("age.days", 86400), ("age.hours", 3600), ("age.minutes", 60)):
        if seconds >= size:
            return text(key, lang, n=int(seconds // size))
    return text("age.just_now", lang)


def money(amount: float, currency: str = "USD") -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "JPY": "¥"}.get(currency)
    number = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    return f"{symbol}{number}" if symbol else f"{number} {currency}"


def error_text(message: str, lang: Lang) -> str:
    """An engine error message in ``lang`` (English messages are returned as they are)."""
    if lang == "en":
        return message
    for pattern, template in ERRORS_ZH:
        match = pattern.fullmatch(message)
        if match:
            return template.format(**match.groupdict())
    log.warning("no Chinese text for the message %r", message)
    return message
