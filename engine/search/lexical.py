"""Lexical ranking: BM25 (``bm25s``) over product words in English and Chinese.

English words are lower-cased and stemmed (Snowball, via PyStemmer): "shoes" finds "shoe". Chinese
has no spaces, so each run of CJK characters becomes its characters and character bigrams:
"跑步鞋" -> 跑 步 鞋 跑步 步鞋. That needs no dictionary and still rewards whole-word matches, which
is how typed Chinese finds products through their Chinese titles even when CLIP reads only English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

import numpy as np

from engine.catalogue.products import Product

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"[{CJK}]+|[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOPWORDS = frozenset(
    "a an and the for of in on with to from by at is are be this that it its my me i you your we our "
    "want need looking look find show some any please like".split()
)  # fmt: skip
TITLE_WEIGHT = 2  # title words count twice: they name the product


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Stemmed English words, plus CJK characters and bigrams."""
    tokens: list[str] = []
    for match in TOKEN.finditer(text.lower()):
        word = match.group()
        if re.match(rf"[{CJK}]", word):
            tokens.extend(word)
            tokens.extend(word[i : i + 2] for i in range(len(word) - 1))
        elif word not in STOPWORDS:
            tokens.extend(_stemmer().stemWords(word.replace("'", "").split("-")))
    return tokens


def product_text(product: Product) -> Iterable[str]:
    """The fields BM25 reads, title words weighted up."""
    titles = [product.title, product.title_zh or ""] * TITLE_WEIGHT
    return [*titles, product.description, product.description_zh or "", product.brand, product.colour,
            product.category, " ".join(product.tags)]  # fmt: skip


class LexicalIndex:
    """BM25 over a fixed set of products; rebuilt (cheaply) whenever the catalogue index changes."""

    def __init__(self, products: Iterable[Product]) -> None:
        import bm25s

        self.products: list[Product] = list(products)
        self.ids = [product.id for product in self.products]
        self.by_id = dict(zip(self.ids, self.products))
        self.colours = {p.colour for p in self.products if p.colour}
        self.categories = {p.category for p in self.products}
        self._tokens = [tokenize(" ".join(product_text(product))) for product in self.products]
        self._token_sets = {pid: set(tokens) for pid, tokens in zip(self.ids, self._tokens)}
        self._retriever = bm25s.BM25()
        if self.products:
            self._retriever.index(self._tokens, show_progress=False)
        self._vocabulary = set(self._retriever.vocab_dict) if self.products else set()

    def __len__(self) -> int:
        return len(self.products)

    def score_array(self, query: str, weights: Mapping[str, float] | None = None) -> np.ndarray:
        """BM25 score of every product, in the order of :attr:`products` (0 where no word is shared).

        ``weights`` scales single tokens (a corrected word or a synonym counts less than a typed word);
        tokens not in it count fully.
        """
        terms = list(dict.fromkeys(token for token in tokenize(query) if token in self._vocabulary))
        scores = np.zeros(len(self.products), np.float32)
        if not terms:
            return scores
        full = [t for t in terms if (weights or {}).get(t, 1.0) == 1.0]
        if full:
            scores += np.asarray(self._retriever.get_scores(full), np.float32)
        for term in terms:
            weight = (weights or {}).get(term, 1.0)
            if weight != 1.0:
                scores += weight * np.asarray(self._retriever.get_scores([term]), np.float32)
        return scores

    def scores(self, query: str) -> dict[str, float]:
        """BM25 score of every product that shares at least one word with the query."""
        scores = self.score_array(query)
        return {self.ids[i]: float(scores[i]) for i in np.flatnonzero(scores > 0)}

    def matched_words(self, query: str, product: Product) -> list[str]:
        """The query's own words that the product's text contains (for highlighting)."""
        product_tokens = self._token_sets.get(product.id) or set(tokenize(" ".join(product_text(product))))
        words = []
        for match in TOKEN.finditer(query.lower()):
            word = match.group()
            if len(word) < 2 and not re.match(rf"[{CJK}]", word):
                continue  # a lone letter ("t" of "T恤") highlights nothing useful
            word_tokens = tokenize(word)
            if word_tokens and all(token in product_tokens for token in word_tokens):
                words.append(word)
        return words
