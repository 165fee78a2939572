"""What a review says: its sentiment and the aspects it praises or criticises, in English and Chinese.

Sentiment comes from two offline libraries that ship their own lexicon or model: VADER
(``vaderSentiment``) for English, SnowNLP, trained on Chinese product reviews, for Chinese. Aspects
(quality, size/fit, price/value, comfort, delivery, looks) come from the bilingual lexicon in
``aspects.json``: the review is cut into clauses ("comfy, but runs small" is two), each clause is
searched for lexicon terms, longest first, and a term's polarity is its own (praise or a named
complaint such as "runs small"), flipped by a negation just before it ("not comfortable", "不舒服"
is listed, "不是很舒服" is caught), or, for a bare mention ("the colour"), its clause's sentiment.

The review's sentiment blends the library's score with the balance of its aspect opinions, because
shopping complaints ("runs small", "偏小") sound neutral to a general-purpose sentiment model:

    sentiment = (1 - w)·library + w·mean(aspect polarities)       w = min(opinions, 3) / 6

and reads as positive at ≥ 0.25, negative at ≤ -0.25, neutral (or mixed) between.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

Language = Literal["en", "zh"]
LEXICON_FILE = Path(__file__).with_name("aspects.json")
ASPECTS = ("quality", "size", "price", "comfort", "delivery", "looks")
POSITIVE_AT, NEGATIVE_AT = 0.25, -0.25
CLAUSE_VADER = 0.05  # VADER's own neutral band, for a clause holding a bare mention
CLAUSE_SNOWNLP = (0.35, 0.65)  # SnowNLP probability of positive: below negative, above positive

CJK = re.compile(r"[\u3400-\u9fff]")
EN_CLAUSES = re.compile(r"[.!?;,:\n]+|\s[-–—]\s|\b(?:but|though|although|however|except|yet|whereas)\b", re.I)
ZH_CLAUSES = re.compile(r"[。！？；，、,.!?;:：\n~～]+|但是|可是|不过|然而|只是|就是|但")
EN_NEGATORS = frozenset(
    "not no never hardly barely nothing without nor isn't wasn't aren't weren't doesn't don't didn't won't "
    "can't cannot couldn't wouldn't shouldn't hasn't haven't".split()
)
ZH_NEGATORS = ("不", "没")
ZH_NOT_NEGATION = ("不错", "不仅", "不但", "不光", "不少", "不管", "不愧", "不要太", "没想到", "不得不")


@dataclass(frozen=True)
class Term:
    aspect: str
    polarity: int  # +1 praise, -1 complaint, 0 a bare mention
    issue: str | None = None  # the complaint's English name, e.g. "runs small"


@dataclass(frozen=True)
class Opinion:
    aspect: str
    polarity: int  # +1, -1, or 0 when the clause says nothing either way
    phrase: str  # the words as written
    issue: str | None = None


@dataclass(frozen=True)
class Analysis:
    language: Language
    sentiment: float  # -1 .. 1
    label: Literal["positive", "neutral", "negative"]
    opinions: tuple[Opinion, ...]

    @property
    def aspects(self) -> dict[str, int]:
        """Net polarity (+1 or -1) of every aspect the review has an opinion on."""
        totals: dict[str, int] = {}
        for opinion in self.opinions:
            totals[opinion.aspect] = totals.get(opinion.aspect, 0) + opinion.polarity
        return {aspect: 1 if total > 0 else -1 for aspect, total in totals.items() if total}

    @property
    def issues(self) -> dict[str, str]:
        """Aspect -> named complaint ("size" -> "runs small") for aspects the review is negative on."""
        negative = {aspect for aspect, polarity in self.aspects.items() if polarity < 0}
        return {o.aspect: o.issue for o in self.opinions if o.aspect in negative and o.issue}


class Lexicon:
    """The aspect lexicon of ``aspects.json``: names, complaint names and a matcher per language."""

    def __init__(self, data: dict) -> None:
        self.data = {aspect: data[aspect] for aspect in ASPECTS}
        self.terms: dict[Language, dict[str, Term]] = {"en": {}, "zh": {}}
        for aspect, entry in self.data.items():
            for language in ("en", "zh"):
                for word in entry["mention"][language]:
                    self.terms[language][word.lower()] = Term(aspect, 0)
                for word in entry["positive"][language]:
                    self.terms[language][word.lower()] = Term(aspect, 1)
                for group in entry["negative"]:
                    for word in group[language]:
                        self.terms[language][word.lower()] = Term(aspect, -1, group["issue"]["en"])
        self.patterns = {language: _pattern(list(terms), language) for language, terms in self.terms.items()}

    @classmethod
    def load(cls, path: Path = LEXICON_FILE) -> Lexicon:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def name(self, aspect: str, language: Language = "en") -> str:
        return self.data[aspect]["name"][language]

    def issues(self) -> tuple[str, ...]:
        """Every named complaint (English names), in lexicon order."""
        return tuple(group["issue"]["en"] for entry in self.data.values() for group in entry["negative"])

    def issue_name(self, issue: str, language: Language = "en") -> str:
        return self._issues[issue][1]["issue"][language]

    def aspect_of_issue(self, issue: str) -> str:
        return self._issues[issue][0]

    @cached_property
    def _issues(self) -> dict[str, tuple[str, dict]]:
        return {group["issue"]["en"]: (aspect, group) for aspect, entry in self.data.items() for group in entry["negative"]}

    def find(self, clause: str, language: Language) -> list[tuple[Term, str, int]]:
        """(term, matched words, start) of every term in the clause, longest match first at each place."""
        return [(self.terms[language][m.group(0).lower()], m.group(0), m.start())
                for m in self.patterns[language].finditer(clause)]  # fmt: skip


def _pattern(words: list[str], language: Language) -> re.Pattern:
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    if language == "zh":
        return re.compile(alternatives)
    return re.compile(rf"(?<![\w'-])(?:{alternatives})(?![\w'-])", re.I)


def detect_language(text: str) -> Language:
    """Chinese when at least a fifth of the letters are CJK characters."""
    letters = [c for c in text if c.isalpha()]
    return "zh" if letters and sum(bool(CJK.match(c)) for c in letters) >= 0.2 * len(letters) else "en"


def clauses(text: str, language: Language) -> list[str]:
    splitter = ZH_CLAUSES if language == "zh" else EN_CLAUSES
    return [part.strip() for part in splitter.split(text.replace("’", "'")) if part and part.strip()]


def negated(clause: str, start: int, language: Language) -> bool:
    """Whether a negation stands just before ``start``: three words in English, three characters in Chinese."""
    if language == "zh":
        window = clause[max(0, start - 3) : start]
        for phrase in ZH_NOT_NEGATION:
            window = window.replace(phrase, "")
        return any(negator in window for negator in ZH_NEGATORS)
    before = re.findall(r"[\w']+", clause[:start].lower())[-3:]
    return any(word in EN_NEGATORS for word in before) and "only" not in before


class Analyser:
    """Sentiment and aspect opinions of review texts; the libraries load on first use, once."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or Lexicon.load()
        self._lock = threading.Lock()

    @cached_property
    def _vader(self):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        return SentimentIntensityAnalyzer()

    @cached_property
    def _snownlp(self):
        from snownlp import SnowNLP  # loads its model (a few seconds) on import

        return SnowNLP

    def library_score(self, text: str, language: Language) -> float:
        """The library's sentiment alone, in -1 .. 1."""
        if not re.search(r"\w", text):
            return 0.0
        with self._lock:  # both libraries keep state that is not documented as thread-safe
            if language == "zh":
                return 2.0 * float(self._snownlp(text).sentiments) - 1.0
            return float(self._vader.polarity_scores(text)["compound"])

    def analyse(self, text: str, language: Language | None = None) -> Analysis:
        language = language or detect_language(text)
        opinions = tuple(o for clause in clauses(text, language) for o in self._opinions(clause, language))
        polar = [o.polarity for o in opinions if o.polarity]
        score = self.library_score(text, language)
        if polar:
            weight = min(len(polar), 3) / 6
            score = (1 - weight) * score + weight * sum(polar) / len(polar)
        return Analysis(language, round(score, 4), label_of(score), opinions)

    def _opinions(self, clause: str, language: Language) -> list[Opinion]:
        found = []
        clause_polarity: int | None = None
        for term, phrase, start in self.lexicon.find(clause, language):
            polarity, issue = term.polarity, term.issue
            if polarity and negated(clause, start, language):
                polarity, issue = -polarity, None
            elif not polarity:
                clause_polarity = self._clause_polarity(clause, language) if clause_polarity is None else clause_polarity
                polarity = clause_polarity
            found.append(Opinion(term.aspect, polarity, phrase, issue))
        return found

    def _clause_polarity(self, clause: str, language: Language) -> int:
        score = self.library_score(clause, language)
        if language == "zh":
            low, high = (2 * p - 1 for p in CLAUSE_SNOWNLP)
        else:
            low, high = -CLAUSE_VADER, CLAUSE_VADER
        return 1 if score >= high else -1 if score <= low else 0


def label_of(score: float) -> Literal["positive", "neutral", "negative"]:
    return "positive" if score >= POSITIVE_AT else "negative" if score <= NEGATIVE_AT else "neutral"
