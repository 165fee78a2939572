"""Catalogue-owned synonyms in the Solr / Elasticsearch format, applied to a query's words.

The file is plain text, one rule a line, and a shop owner edits it without touching code::

    # comments start with '#', at the start of a line or after a space
    tee, t-shirt, tshirt          # equivalent: any of them also searches for the others
    jeans, denims => trousers     # explicit: the words on the left also search for the right
    单肩包, 斜挎包 => 托特包, 手提包   # Chinese works the same way

Words are matched case-insensitively and as whole words; a rule word may be a phrase of several
words ("hedge clippers"), and hyphens count as spaces ("t-shirt" matches "t shirt"). English words
also match in another inflection ("sneaker" matches a rule for "sneakers"). Chinese has no spaces
between words, so a rule word containing Chinese characters matches anywhere in the query.

Unlike Solr, an explicit rule adds the right side and keeps the typed words (a shopper's words are
never thrown away), and rules do not chain: what a rule adds is not expanded again. A bad line
never stops the rest: it is skipped and reported with its line number (:attr:`SynonymSet.problems`).

The catalogue's own item names are protected: a rule word found inside a longer item name in the
query does nothing, so a rule for 橡皮 (eraser) leaves 橡皮鸭 (rubber duck) alone and a rule for
"sweets" leaves "sweet corn" alone (:func:`catalogue_phrases`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from engine.errors import CatalogueError

FILE_NAME = "synonyms.txt"  # beside the catalogue file
CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAS_CJK = re.compile(rf"[{CJK}]")
ENGLISH_TOKEN = re.compile(r"[a-z0-9]+")
QUERY_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")  # a query word as typed, "rubik's" whole
COMMENT = re.compile(r"(?:^|\s)#.*$")
ARROW = "=>"


class SynonymError(CatalogueError):
    """The synonym file cannot be used; the message names the file and the line numbers."""


@dataclass(frozen=True)
class Rule:
    """One line of the file: ``words`` are matched; a match adds ``adds`` (minus the matched word)."""

    line: int
    text: str  # the line as written, for explanations
    words: tuple[str, ...]
    adds: tuple[str, ...]
    explicit: bool  # "a => b" rather than "a, b"


@dataclass(frozen=True)
class Expansion:
    """Why extra words were searched: the query words that matched a rule, and what the rule added."""

    matched: str  # the words as they appear in the query
    added: tuple[str, ...]
    rule: Rule
    source: str = FILE_NAME

    def explain(self) -> str:
        """One line for "Why this result": 'tee → t-shirt, tshirt (synonyms.txt line 3)'."""
        return f"{self.matched} → {', '.join(self.added)} ({self.source} line {self.rule.line})"


@dataclass
class Expanded:
    """A query's extra words and where each came from."""

    terms: list[str] = field(default_factory=list)  # extra words to search, each once, in rule order
    expansions: list[Expansion] = field(default_factory=list)

    def explain(self) -> list[str]:
        return [expansion.explain() for expansion in self.expansions]


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def normalise(text: str) -> str:
    """Lower case, hyphens and underscores as spaces, single spaces, apostrophes dropped."""
    text = re.sub(r"[-_/]+", " ", text.lower().replace("'", "").replace("’", ""))
    return re.sub(r"\s+", " ", text).strip()


def _english_key(phrase: str) -> tuple[str, ...]:
    """The stemmed words of an English phrase: what a query must contain, in order."""
    return tuple(_stemmer().stemWords(ENGLISH_TOKEN.findall(normalise(phrase))))


class SynonymSet:
    """Parsed synonym rules with a lookup from each rule word to its rules."""

    def __init__(self, rules: Iterable[Rule] = (), problems: Iterable[str] = (), source: str = FILE_NAME,
                 protected: Iterable[str] = ()) -> None:  # fmt: skip
        self.rules: list[Rule] = list(rules)
        self.problems: list[str] = list(problems)  # "synonyms.txt line 7: ...", one per skipped line
        self.source = source
        self.protect(protected)
        self._english: dict[tuple[str, ...], list[tuple[str, Rule]]] = {}
        self._chinese: dict[str, list[tuple[str, Rule]]] = {}
        for rule in self.rules:
            for word in rule.words:
                if HAS_CJK.search(word):
                    self._chinese.setdefault(word, []).append((word, rule))
                elif key := _english_key(word):
                    self._english.setdefault(key, []).append((word, rule))
        self._longest = max((len(key) for key in self._english), default=0)
        self._chinese_longest_first = [(word, normalise(word)) for word in sorted(self._chinese, key=len, reverse=True)]

    def protect(self, phrases: Iterable[str]) -> SynonymSet:
        """Phrases (item names) that a shorter rule word inside them must not expand; returns self."""
        self._protected_en: set[tuple[str, ...]] = set()
        self._protected_zh: set[str] = set()
        for phrase in phrases:
            if HAS_CJK.search(phrase):
                if len(normalise(phrase)) > 1:
                    self._protected_zh.add(normalise(phrase))
            elif len(key := _english_key(phrase)) > 1:
                self._protected_en.add(key)
        # Looked up per query by the query's own spans, so a query costs the same at 300 or 1M products.
        self._protected_en_sizes = sorted({len(key) for key in self._protected_en})
        self._protected_zh_longest = max(map(len, self._protected_zh), default=0)
        return self

    def __len__(self) -> int:
        return len(self.rules)

    # --- reading ----------------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, source: str = FILE_NAME, protected: Iterable[str] = ()) -> SynonymSet:
        """Rules from the file's text; bad lines are skipped and listed in :attr:`problems`."""
        rules, problems = [], []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = COMMENT.sub("", raw).strip()
            if not line:
                continue
            try:
                rules.append(parse_line(line, number))
            except ValueError as error:
                problems.append(f"{source} line {number}: {error} (the line reads: {raw.strip()[:80]!r})")
        return cls(rules, problems, source, protected)

    @classmethod
    def load(cls, path: str | Path, strict: bool = False, protected: Iterable[str] = ()) -> SynonymSet:
        """Read a synonym file. ``strict`` raises :class:`SynonymError` listing every bad line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError as error:
            raise SynonymError(f"Synonym file not found: {path}") from error
        except UnicodeDecodeError as error:
            raise SynonymError(f"The synonym file {path.name} is not UTF-8 text; save it as UTF-8.") from error
        except OSError as error:
            raise SynonymError(f"The synonym file {path.name} cannot be read ({error.strerror}).") from error
        synonyms = cls.parse(text, path.name, protected)
        if strict and synonyms.problems:
            raise SynonymError("Please fix the synonym file: " + "; ".join(synonyms.problems))
        return synonyms

    @classmethod
    def for_catalogue(cls, catalogue: str | Path, products: Iterable = ()) -> SynonymSet:
        """The ``synonyms.txt`` beside a catalogue file (no rules when there is none), its products' names protected."""
        path = Path(catalogue).with_name(FILE_NAME)
        protected = catalogue_phrases(products)
        return cls.load(path, protected=protected) if path.is_file() else cls(protected=protected)

    # --- applying ---------------------------------------------------------------------------------
    def expand(self, query: str) -> Expanded:
        """The extra words a query's words call for, with provenance; the query itself is not changed."""
        found = self._english_matches(query) + self._chinese_matches(query)
        expanded = Expanded()
        present: set[str] = set()
        seen: set[tuple[str, int]] = set()
        for matched, rule in found:
            added = tuple(w for w in rule.adds if normalise(w) != normalise(matched) and not _in(w, query))
            if not added or (matched, rule.line) in seen:
                continue
            seen.add((matched, rule.line))
            expanded.expansions.append(Expansion(matched, added, rule, self.source))
            for word in added:
                if normalise(word) not in present:
                    present.add(normalise(word))
                    expanded.terms.append(word)
        return expanded

    def _english_matches(self, query: str) -> list[tuple[str, Rule]]:
        """Rule words found in the query as whole (stemmed) words, longest phrase first, no overlaps."""
        words = list(QUERY_WORD.finditer(query))
        stems = _stemmer().stemWords([normalise(w.group()) for w in words])
        shielded = _spans(stems, self._protected_en, self._protected_en_sizes)
        taken: set[int] = set()
        found: list[tuple[str, Rule]] = []
        for size in range(min(self._longest, len(stems)), 0, -1):
            for start in range(len(stems) - size + 1):
                span = set(range(start, start + size))
                entries = self._english.get(tuple(stems[start : start + size]))
                if entries and not span & taken and not _inside(start, start + size, shielded):
                    taken |= span
                    matched = query[words[start].start() : words[start + size - 1].end()]
                    found += [(matched, rule) for _, rule in entries]
        return found

    def _chinese_matches(self, query: str) -> list[tuple[str, Rule]]:
        """Chinese rule words found anywhere in the query, longest first, no overlaps."""
        text = normalise(query)
        longest = min(self._protected_zh_longest, len(text))
        shielded = [(start, start + size) for size in range(2, longest + 1) for start in range(len(text) - size + 1)
                    if text[start : start + size] in self._protected_zh]  # fmt: skip
        taken: set[int] = set()
        found: list[tuple[str, Rule]] = []
        for word, key in self._chinese_longest_first:
            if key not in text:
                continue
            for match in re.finditer(re.escape(key), text):
                span = set(range(match.start(), match.end()))
                if not span & taken and not _inside(match.start(), match.end(), shielded):
                    taken |= span
                    found += [(word, rule) for _, rule in self._chinese[word]]
                    break
        return found


def parse_line(line: str, number: int = 0) -> Rule:
    """One rule from one line (comments already removed); ValueError says what is wrong with it."""
    if line.count(ARROW) > 1:
        raise ValueError(f"more than one '{ARROW}'; write one mapping per line")
    if ARROW in line:
        left, right = (_words(side) for side in line.split(ARROW))
        if not left or not right:
            raise ValueError(f"'{ARROW}' needs words on both sides, as in 'jeans => trousers'")
        return Rule(number, line, left, right, explicit=True)
    words = _words(line)
    if len(words) < 2:
        raise ValueError("a rule needs at least two words separated by commas, as in 'tee, t-shirt'")
    return Rule(number, line, words, words, explicit=False)


def _words(side: str) -> tuple[str, ...]:
    """The comma-separated words of one side, trimmed, empty ones (a trailing comma) dropped."""
    words = []
    for word in side.split(","):
        word = " ".join(word.split())
        if not word:
            continue
        if not re.search(rf"[A-Za-z0-9{CJK}]", word):
            raise ValueError(f"'{word}' has no letters")
        if "=" in word or ">" in word:
            raise ValueError(f"'{word}' looks like a broken '{ARROW}'")
        if word not in words:
            words.append(word)
    return tuple(words)


def _in(word: str, query: str) -> bool:
    """Whether a word is already in the query (so adding it would add nothing)."""
    if HAS_CJK.search(word):
        return normalise(word) in normalise(query)
    key, have = _english_key(word), _english_key(query)
    return bool(key) and any(have[i : i + len(key)] == key for i in range(len(have) - len(key) + 1))


def _spans(stems: list[str], phrases: set[tuple[str, ...]], sizes: Iterable[int]) -> list[tuple[int, int]]:
    """Where the protected English phrases (of these ``sizes`` in words) occur in a query's stemmed words, as (start, end)."""
    return [(i, i + n) for n in sizes for i in range(len(stems) - n + 1) if tuple(stems[i : i + n]) in phrases]


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """Whether [start, end) lies within a strictly longer protected span."""
    return any(s <= start and end <= e and e - s > end - start for s, e in spans)


def catalogue_phrases(products: Iterable) -> set[str]:
    """Item names to protect: titles in both languages without a leading colour word, and tags.

    "Red Sweet Corn" -> "sweet corn"; "棕色橡皮鸭" -> "橡皮鸭" (colour words from the search's own list).
    """
    from engine.search.understand import COLOUR_WORDS

    colours = sorted((w for words in COLOUR_WORDS.values() for w in words), key=len, reverse=True)
    chinese = tuple(c for c in colours if HAS_CJK.search(c) and len(c) > 1)
    english = tuple(c + " " for c in colours if not HAS_CJK.search(c))
    phrases: set[str] = set()
    for product in products:
        for title in (product.title, product.title_zh or ""):
            phrases.add(_without_colour(title.strip(), chinese, english))
        phrases.update(product.tags)
    return {phrase for phrase in phrases if phrase}


def _without_colour(title: str, chinese: tuple[str, ...], english: tuple[str, ...]) -> str:
    """``title`` without its leading colour word: ``chinese`` colours as they are, ``english`` ones with their
    trailing space, each longest first. Most titles start with none, which two prefix tests tell."""
    if title.startswith(chinese):
        colour = next(c for c in chinese if title.startswith(c))
        return title[len(colour) :].lstrip("的")
    lowered = title.lower()
    if lowered.startswith(english):
        colour = next(c for c in english if lowered.startswith(c))
        return title[len(colour) :]
    return title
