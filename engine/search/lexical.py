"""Lexical ranking: BM25 (``bm25s``) over product words in English and Chinese.

English words are lower-cased and stemmed (Snowball, via PyStemmer): "shoes" finds "shoe". Chinese
has no spaces, so each run of CJK characters becomes its characters and character bigrams:
"跑步鞋" -> 跑 步 鞋 跑步 步鞋. That needs no dictionary and still rewards whole-word matches, which
is how typed Chinese finds products through their Chinese titles even when CLIP reads only English.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from engine.catalogue.products import Product

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"[{CJK}]+|[a-z0-9]+(?:[-'][a-z0-9]+)*")
CJK_CHAR = re.compile(rf"[{CJK}]")
STOPWORDS = frozenset(
    "a an and the for of in on with to from by at is are be this that it its my me i you your we our "
    "want need looking look find show some any please like".split()
)  # fmt: skip
TITLE_WEIGHT = 2  # title words count twice: they name the product
WORD_CACHE = 65_536  # distinct words whose tokens are kept while indexing and searching
CACHED_WORD = 24  # longer words (a run of CJK characters can be a whole sentence) are tokenized afresh each time
IDS_FILE = "shoplens-ids.json"  # beside bm25s's files: which products, in which order, the saved index covers
FORMAT = 1  # of a saved index together with tokenize(); bump it when either changes, and old saves are ignored


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Stemmed English words, plus CJK characters and bigrams."""
    tokens: list[str] = []
    for match in TOKEN.finditer(text.lower()):
        word = match.group()
        tokens.extend(_cached_tokens(word) if len(word) <= CACHED_WORD else _tokens_of(word))
    return tokens


def _tokens_of(word: str) -> tuple[str, ...]:
    """One word's tokens (a run of CJK characters: its characters and bigrams)."""
    if CJK_CHAR.match(word):
        return (*word, *(word[i : i + 2] for i in range(len(word) - 1)))
    if word in STOPWORDS:
        return ()
    return tuple(_stemmer().stemWords(word.replace("'", "").split("-")))


# A catalogue repeats its words: indexing 100k products looks each one up about 30 times.
_cached_tokens = lru_cache(maxsize=WORD_CACHE)(_tokens_of)


def product_text(product: Product) -> Iterable[str]:
    """The fields BM25 reads, title words weighted up."""
    titles = [product.title, product.title_zh or ""] * TITLE_WEIGHT
    return [*titles, *_other_fields(product)]


def product_tokens(product: Product) -> list[str]:
    """``tokenize(" ".join(product_text(product)))``, with the titles tokenized once."""
    return tokenize(f"{product.title} {product.title_zh or ''}") * TITLE_WEIGHT + tokenize(" ".join(_other_fields(product)))


def _other_fields(product: Product) -> list[str]:
    return [product.description, product.description_zh or "", product.brand, product.colour, product.category,
            " ".join(product.tags)]  # fmt: skip


class LexicalIndex:
    """BM25 over a fixed list of products, built from their words or loaded from a saved index.

    A saved index (:meth:`save`) is memory-mapped when loaded (:meth:`load`): a start-up with an
    unchanged catalogue neither tokenizes nor re-indexes it, and the score arrays stay on disk until
    a query touches them.
    """

    def __init__(self, products: Iterable[Product], retriever=None) -> None:
        """Index ``products``; ``retriever`` is a loaded ``bm25s.BM25`` over exactly these products, in this order."""
        self.products: list[Product] = list(products)
        self.ids = [product.id for product in self.products]
        self.by_id = dict(zip(self.ids, self.products))
        self.position = {pid: i for i, pid in enumerate(self.ids)}  # product id -> index in every array
        self.colours = {p.colour for p in self.products if p.colour}
        self.categories = {p.category for p in self.products}
        self._retriever = retriever if retriever is not None else self._index(self.products)
        self._vocabulary: dict[str, int] = dict(self._retriever.vocab_dict) if self.products else {}
        scores = getattr(self._retriever, "scores", None) or {}
        # per token, the sorted positions of the products holding it: holders[starts[t]:starts[t + 1]]
        self._holders = (np.asarray(scores.get("indptr", [0])).tolist(), np.asarray(scores.get("indices", [])))

    @staticmethod
    def _index(products: list[Product]):
        import bm25s

        retriever = bm25s.BM25()
        if products:
            retriever.index([product_tokens(p) for p in products], show_progress=False)
        return retriever

    # --- saved to disk ----------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the index (bm25s arrays and vocabulary) and the product ids it covers into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        self._retriever.save(str(folder), show_progress=False)
        (folder / IDS_FILE).write_text(json.dumps({"format": FORMAT, "ids": self.ids}), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, products: list[Product]) -> LexicalIndex | None:
        """The index saved in ``folder``, memory-mapped, if it covers exactly ``products``; else None."""
        import bm25s

        try:
            saved = json.loads((folder / IDS_FILE).read_text(encoding="utf-8"))
            if saved.get("format") != FORMAT or saved.get("ids") != [p.id for p in products] or not products:
                return None
            retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        except (OSError, ValueError, KeyError):
            return None
        return cls(products, retriever)

    # --- scoring ----------------------------------------------------------------------------------
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

    def best(self, query: str, k: int, weights: Mapping[str, float] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best matches (product id, score), best first, ties by product id: no full sort."""
        scores = self.score_array(query, weights)
        return [(self.ids[i], float(scores[i])) for i in best_positions(scores, k)]

    def holds(self, position: int, token: str) -> bool:
        """Whether the product at ``position`` has ``token`` in its text, read from the index itself.

        bm25s keeps, per token, the sorted positions of the products holding it (a CSC matrix), so
        this is a binary search: no product's text is tokenized again, which at 100k products cost
        more than the rest of the explanations.
        """
        starts, holders = self._holders
        column = self._vocabulary.get(token)
        if column is None or column + 1 >= len(starts):  # bm25s lists "" in its vocabulary with no column
            return False
        start, stop = starts[column], starts[column + 1]
        found = bisect_left(holders, position, start, stop)
        return bool(found < stop and holders[found] == position)

    def _token_test(self, product: Product) -> Callable[[str], bool]:
        """Whether ``product``'s text holds a token: asked of the index when it holds this very product,
        else (a product changed since, or never indexed) of the product's own words."""
        if self.by_id.get(product.id) is product:
            return partial(self.holds, self.position[product.id])
        return set(tokenize(" ".join(product_text(product)))).__contains__

    def matched_words(self, query: str, product: Product) -> list[str]:
        """The query's own words that the product's text contains (for highlighting)."""
        has = self._token_test(product)
        words = []
        for match in TOKEN.finditer(query.lower()):
            word = match.group()
            if len(word) < 2 and not CJK_CHAR.match(word):
                continue  # a lone letter ("t" of "T恤") highlights nothing useful
            word_tokens = tuple(tokenize(word))
            if word_tokens and all(has(token) for token in word_tokens):
                words.append(word)
        return words


def best_positions(scores: np.ndarray, k: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``k`` best positive ``scores`` (among those ``keep`` allows), best first, ties by position."""
    eligible = np.flatnonzero(scores > 0 if keep is None else (scores > 0) & keep)
    return eligible[top_k(scores[eligible], k)]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest ``scores``, largest first, ties by position: what a stable full
    sort would put first, found with a partial selection (``np.argpartition``) and a sort of those k."""
    if k <= 0 or len(scores) == 0:
        return np.zeros(0, np.intp)
    if k < len(scores):
        threshold = scores[np.argpartition(scores, len(scores) - k)[len(scores) - k]]  # the k-th largest
        above = np.flatnonzero(scores > threshold)
        chosen = np.concatenate([above, np.flatnonzero(scores == threshold)[: k - len(above)]])
        chosen.sort()
    else:
        chosen = np.arange(len(scores))
    return chosen[np.argsort(-scores[chosen], kind="stable")]
