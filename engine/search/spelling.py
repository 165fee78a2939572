"""Typo tolerance against the catalogue's own vocabulary, in English.

A shopper's word that the catalogue does not know is replaced by the closest word it does know,
within Algolia's budget: no correction for words under 4 letters, one edit for 4–7 letters, two for
8 or more. An edit is an insertion, deletion, substitution or swap of two neighbouring letters
(optimal string alignment distance), so "keybaord" is one edit from "keyboard". The lookup is
SymSpell (``symspellpy``) over the catalogue's words.

Never corrected: words the catalogue knows (also in another inflection: "violins" when it sells a
violin), real English words it does not use ("read" is not a typo of "red", "watch" not of "match";
from the English frequency list that ships with symspellpy), and anything with a digit or a
non-Latin letter ("14inch", "T恤", "跑步鞋"). When a search finds nothing, ``keep_english=False``
also corrects English words ("teddy beer" -> "teddy bear"). Each correction carries its distance,
so the search can let a corrected word count less than an exact one (:attr:`Correction.weight`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from engine.lru import LRU

WORD = re.compile(r"[A-Za-z0-9\u00c0-\u024f]+(?:'[A-Za-z]+)?")
LATIN_WORD = re.compile(r"[a-z]+")
MIN_LENGTH = 4  # shorter words are never corrected
TWO_EDITS_FROM = 8  # words this long may be two edits away
PENALTY_PER_EDIT = 0.25  # a corrected word's weight: 1 - 0.25 per edit
ENGLISH_WORDS = 30_000  # this many of the most frequent English words count as meant, not mistyped
CORRECTION_CACHE = 10_000  # recent (word, keep_english) answers kept
KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    """English Snowball stem, as the lexical index uses ("violins" -> "violin")."""
    return _stemmer().stemWord(word)


@lru_cache(maxsize=1)
def english_words(limit: int = ENGLISH_WORDS) -> frozenset[str]:
    """The ``limit`` most frequent English words of symspellpy's frequency dictionary (82,765 words)."""
    text = (resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt").read_text(encoding="utf-8")
    return frozenset(line.split(" ", 1)[0] for line in text.splitlines()[:limit] if line.strip())


@lru_cache(maxsize=1)
def _neighbours() -> dict[str, set[str]]:
    """Keys next to each letter on a QWERTY keyboard (same row, and the rows above and below)."""
    near: dict[str, set[str]] = {letter: set() for row in KEYBOARD_ROWS for letter in row}
    for r, row in enumerate(KEYBOARD_ROWS):
        for c, letter in enumerate(row):
            for other_row in KEYBOARD_ROWS[max(r - 1, 0) : r + 2]:
                near[letter].update(other_row[max(c - 1, 0) : c + 2])
            near[letter].discard(letter)
    return near


def keyboard_slip(typed: str, candidate: str) -> bool:
    """Whether ``typed`` is ``candidate`` with one letter replaced by a neighbouring key ("sofs" / "sofa")."""
    if len(typed) != len(candidate):
        return False
    different = [(a, b) for a, b in zip(typed, candidate) if a != b]
    return len(different) == 1 and different[0][0] in _neighbours().get(different[0][1], set())


def max_distance(word: str) -> int:
    """Algolia's typo budget for a word: 0 under 4 letters, 1 for 4–7, 2 for 8 or more."""
    if len(word) < MIN_LENGTH:
        return 0
    return 2 if len(word) >= TWO_EDITS_FROM else 1


@dataclass(frozen=True)
class Correction:
    """One word replaced: where it was in the text, what it became and how many edits away."""

    original: str
    corrected: str
    distance: int
    start: int = 0  # character span of the original word in the text
    end: int = 0

    @property
    def weight(self) -> float:
        """How much the corrected word should count next to a typed one (1.0): 0.75, then 0.5."""
        return max(0.0, 1.0 - PENALTY_PER_EDIT * self.distance)


@dataclass
class Spelled:
    """A text after correction, and what was corrected."""

    original: str
    text: str
    corrections: list[Correction] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.corrections)

    def did_you_mean(self) -> str | None:
        """The corrected text to show as "Did you mean …", or None when nothing changed."""
        return self.text if self.corrections else None


class SpellingCorrector:
    """Corrects English words to the closest word of a vocabulary within Algolia's edit budget.

    Build it from the catalogue (:meth:`from_products` or :meth:`from_texts`); ``vocabulary`` maps a
    word to how often the catalogue uses it, which breaks ties between equally close candidates.
    ``known`` adds words that are never corrected (a shop's own jargon, brand names typed by shoppers).
    """

    def __init__(self, vocabulary: Mapping[str, int] | Iterable[str], known: Iterable[str] = ()) -> None:
        from symspellpy import SymSpell

        counts = vocabulary if isinstance(vocabulary, Mapping) else Counter(vocabulary)
        self.frequency: dict[str, int] = {}
        for word, count in counts.items():
            if LATIN_WORD.fullmatch(word.lower()):
                self.frequency[word.lower()] = self.frequency.get(word.lower(), 0) + int(count)
        self._symspell = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for word, count in self.frequency.items():
            if len(word) >= 3:
                self._symspell.create_dictionary_entry(word, max(count, 1))
        self._stems = {stem(w) for w in self.frequency}
        self._known = {w.lower() for w in known}
        # words typed into a public search box are unbounded: the recent ones are kept (a 1-tuple, as None is an answer)
        self._cache: LRU[tuple[str, bool], tuple[Correction | None]] = LRU(CORRECTION_CACHE)

    @classmethod
    def from_texts(cls, texts: Iterable[str], known: Iterable[str] = ()) -> SpellingCorrector:
        """Vocabulary from free texts: every Latin word, counted."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(m.group() for m in LATIN_WORD.finditer(text.lower()))
        return cls(counts, known)

    @classmethod
    def from_products(cls, products: Iterable, known: Iterable[str] = ()) -> SpellingCorrector:
        """Vocabulary from what shoppers see: titles, descriptions, tags, brands, colours and categories."""
        texts = []
        for product in products:
            texts += [product.title, product.description or "", product.brand or "", product.colour or "",
                      product.category, " ".join(product.tags)]  # fmt: skip
        return cls.from_texts(texts, known)

    def __len__(self) -> int:
        return len(self.frequency)

    def __contains__(self, word: str) -> bool:
        """In the catalogue's vocabulary, in this or another inflection."""
        word = word.lower()
        return word in self.frequency or stem(word) in self._stems

    def is_known(self, word: str, keep_english: bool = True) -> bool:
        """Never corrected: in the vocabulary, in ``known``, or (with ``keep_english``) a frequent English word."""
        word = word.lower()
        return word in self or word in self._known or (keep_english and word in english_words())

    def candidates(self, word: str, limit: int = 5, keep_english: bool = True) -> list[Correction]:
        """The vocabulary words within the word's edit budget, best first.

        Among equally close words: the same first letter (rarely mistyped), then a slip to a
        neighbouring key, then the word the catalogue uses most.
        """
        from symspellpy import Verbosity

        lowered = word.lower()
        budget = max_distance(lowered)
        if not budget or not LATIN_WORD.fullmatch(lowered) or self.is_known(lowered, keep_english):
            return []
        found = self._symspell.lookup(lowered, Verbosity.ALL, max_edit_distance=budget, transfer_casing=False)
        ranked = sorted(found, key=lambda s: (s.distance, s.term[0] != lowered[0], not keyboard_slip(lowered, s.term),
                                              -s.count, s.term))  # fmt: skip
        return [Correction(word, s.term, s.distance) for s in ranked[:limit] if s.distance > 0]

    def correct_word(self, word: str, keep_english: bool = True) -> Correction | None:
        """The best correction of one word, or None when it is known, too short or nothing is close."""
        key = (word.lower(), keep_english)
        cached = self._cache.get(key)
        if cached is None:
            best = self.candidates(word, limit=1, keep_english=keep_english)
            cached = (best[0] if best else None,)
            self._cache.put(key, cached)
        found = cached[0]
        return Correction(word, found.corrected, found.distance) if found else None

    def correct(self, text: str, keep_english: bool = True) -> Spelled:
        """Correct every word of a text; everything else (case, spacing, Chinese, numbers) stays as typed.

        ``keep_english=False`` also corrects frequent English words the catalogue does not use: for a
        second attempt when the search as typed found nothing.
        """
        pieces, corrections, last = [], [], 0
        for match in WORD.finditer(text):
            word = match.group()
            if not LATIN_WORD.fullmatch(word.lower()):
                continue  # digits, accents or an apostrophe: leave it alone
            correction = self.correct_word(word, keep_english)
            if correction is None:
                continue
            corrections.append(Correction(word, correction.corrected, correction.distance, match.start(), match.end()))
            pieces += [text[last : match.start()], _same_case(word, correction.corrected)]
            last = match.end()
        pieces.append(text[last:])
        return Spelled(original=text, text="".join(pieces), corrections=corrections)


def _same_case(typed: str, corrected: str) -> str:
    """The correction in the typed word's case: "Keybaord" -> "Keyboard", "SOFS" -> "SOFA"."""
    if typed.isupper() and len(typed) > 1:
        return corrected.upper()
    if typed[:1].isupper():
        return corrected[:1].upper() + corrected[1:]
    return corrected
