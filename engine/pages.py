"""From a search to a page: what the shopper is shown, in their language, the same for every caller.

:class:`PageMaker` runs a :class:`~engine.types.Query` for one shopper and returns a
:class:`~engine.types.Page`: the hits (personalised when asked), the filters read from the words and
the shopper's own filters as removable chips, facets with counts that are also the filter controls, notices, and, when nothing
matches every filter, a way out (which filter to drop, and the nearest products without it). It
records the search for the shopper's profile itself (not for a page opened from its address), so
the web page, the JSON API and an MCP client all behave the same.
"""

from __future__ import annotations

import logging

from engine.catalogue.products import Product
from engine.i18n import Lang, category_label, colour_label, money, product_title, text
from engine.search.engine import SearchEngine
from engine.search.facets import PRICE_BANDS, RATING_BANDS, REVIEW_BANDS
from engine.settings import Settings
from engine.shoppers.personal import Personaliser, Reason
from engine.types import OWN_CHIP, Chip, Facet, FacetValue, Filters, Hit, Page, Query, Relaxation, SearchResult

log = logging.getLogger(__name__)

OWN_DIMENSIONS = ("categories", "colours", "price", "rating")


class PageMaker:
    """Builds result pages from the search engine and the shopper's history."""

    def __init__(self, settings: Settings, engine: SearchEngine, personal: Personaliser) -> None:
        self.settings = settings
        self.engine = engine
        self.personal = personal

    def page(self, query: Query, *, shopper: str = "", personalise: bool = True, lang: Lang = "en",
             record: bool = True) -> Page:  # fmt: skip
        """Run ``query`` for ``shopper`` and describe the result page; records the search event unless
        ``record`` is False (a page opened from its address: a shared link, or Back and Forward)."""
        result = self.engine.search(query)
        pool, reasons = result.pool, {}
        personalised = personalise and bool(shopper) and query.sort == "relevance" and not result.browsed
        if personalised:
            pool, found = self.personal.rerank(shopper, pool)
            personalised = bool(found)
            reasons = {pid: self.reason_text(reason, lang) for pid, reason in found.items()}
        hits = self.engine.explain(pool[: query.k or self.settings.top_k], result)
        page = Page(
            query=query, lang=lang, summary=self._summary(query, result, lang), hits=hits, total=len(pool),
            chips=self._chips(result, lang), filter_chips=self._filter_chips(query, lang), facets=self._facets(query, result, lang),
            notices=[text(key, lang, **values) for key, values in result.notices],
            reasons={hit.product.id: reasons[hit.product.id] for hit in hits if hit.product.id in reasons},
            transcript=result.transcript, personalised=personalised, timings=result.timings,
        )  # fmt: skip
        if result.corrected:
            typed = " ".join(query.text.split())
            page.notices.append(text("notice.corrected", lang, corrected=result.corrected, typed=typed))
        if result.browsed:
            page.notices.insert(0, text("notice.browse_filters" if not result.filters.is_empty else "notice.browse_all", lang))
        if personalised:
            page.notices.append(text("notice.personalised", lang))
        if not pool:
            self._way_out(page, result, lang)
        if record and not query.is_empty:  # browsing by filters says nothing about taste
            self.personal.record_search(shopper, self._searched_words(query, result) or None, _modality(query))
        return page

    # --- summary, chips and facets ----------------------------------------------------------------
    def _summary(self, query: Query, result: SearchResult, lang: Lang) -> str:
        asked = self._searched_words(query, result)
        if query.image is not None:
            asked = text("query.photo_and", lang, words=asked) if asked else text("query.photo", lang)
        count, shown = result.matching or 0, len(result.pool)
        if not shown:
            return text("summary.none", lang, query=asked) if asked else text("summary.none.browse", lang)
        if not asked:
            return text("summary.browse.one", lang) if count == 1 else text("summary.browse", lang, count=count)
        if count == 1:
            return text("summary.results.one", lang, query=asked)
        if count > shown:  # the pool holds the best of them
            return text("summary.top", lang, shown=shown, count=count, query=asked)
        return text("summary.results", lang, count=count, query=asked)

    @staticmethod
    def _searched_words(query: Query, result: SearchResult) -> str:
        typed = result.corrected or " ".join(query.text.split())
        spoken = result.transcript.text if result.transcript else ""
        return " ".join(part for part in (typed, spoken) if part)

    def _chips(self, result: SearchResult, lang: Lang) -> list[Chip]:
        """What the engine read into the words, each removable: spelling, synonyms, filters, "not ..."."""
        chips = []
        if result.corrections:
            typed = " ".join(c.original for c in result.corrections)
            corrected = " ".join(c.corrected for c in result.corrections)
            chips.append(Chip("spelling", text("chip.spelling", lang, typed=typed, corrected=corrected)))
        if result.expansions:
            added = ", ".join(dict.fromkeys(word for e in result.expansions for word in e.added))
            chips.append(Chip("synonyms", text("chip.synonyms", lang, added=added)))
        understood = result.understood
        if understood is None:
            return chips
        for key in understood.keys:
            kind, _, value = key.partition(":")
            if kind == "price":  # as the filter reads it: "under 50 over 100" is 50-100 (Filters.from_understood)
                label = self.price_label(result.filters.words.price_min, result.filters.words.price_max, lang)
            elif kind == "colour":
                label = text("chip.colour", lang, value=colour_label(value, lang))
            elif kind == "category":
                label = text("chip.category", lang, value=category_label(value, lang))
            else:
                label = text("chip.not", lang, value=value)
            chips.append(Chip(key, label))
        return chips

    def _filter_chips(self, query: Query, lang: Lang) -> list[Chip]:
        """The shopper's own filters, each removable (:meth:`Query.without_chip`)."""
        own = query.filters
        chips = [Chip(f"{OWN_CHIP}category:{c}", text("chip.category", lang, value=category_label(c, lang))) for c in own.categories]
        chips += [Chip(f"{OWN_CHIP}colour:{c}", text("chip.colour", lang, value=colour_label(c, lang))) for c in own.colours]
        if own.price_min is not None or own.price_max is not None:
            chips.append(Chip(f"{OWN_CHIP}price", self.price_label(own.price_min, own.price_max, lang)))
        if own.rating_min is not None:
            chips.append(Chip(f"{OWN_CHIP}rating", text("rating.at_least", lang, stars=f"{own.rating_min:g}")))
        if own.review_min is not None:
            chips.append(Chip(f"{OWN_CHIP}reviews", text("rating.by_reviews", lang, stars=f"{own.review_min:g}")))
        if query.negative.strip():
            chips.append(Chip(f"{OWN_CHIP}not", text("chip.not", lang, value=query.negative.strip())))
        return chips

    def price_label(self, low: float | None, high: float | None, lang: Lang) -> str:
        currency = self.currency
        if low is not None and high is not None:
            return text("chip.price_range", lang, low=money(low, currency), high=money(high, currency))
        if high is not None:
            return text("chip.price_max", lang, high=money(high, currency))
        return text("chip.price_min", lang, low=money(low or 0, currency))

    @property
    def currency(self) -> str:
        return self.engine.snapshot.currency

    def _facets(self, query: Query, result: SearchResult, lang: Lang) -> list[Facet]:
        """Facets are the shopper's own filter controls, with the current result set's counts."""
        counts, own = result.facets, query.filters
        colours, categories = self.engine.vocabulary()

        def values(name: str, names: list[str], label) -> tuple[FacetValue, ...]:
            chosen = set(own.categories if name == "category" else own.colours)
            found = counts.get(name, {})
            ordered = sorted(set(names) | chosen, key=lambda v: (-found.get(v, 0), v))
            return tuple(FacetValue(v, label(v, lang), found.get(v, 0), v in chosen) for v in ordered)

        price_values = []
        for value, low, high in PRICE_BANDS:
            upper = None if high == float("inf") else high
            label = (text("price.under", lang, high=money(high, self.currency)) if low == 0 else
                     text("price.over", lang, low=money(low, self.currency)) if upper is None else
                     text("price.between", lang, low=money(low, self.currency), high=money(high, self.currency)))  # fmt: skip
            selected = (own.price_min or 0) == low and own.price_max == upper and not own.is_empty
            price_values.append(FacetValue(value, label, counts.get("price", {}).get(value, 0), selected))
        rating_values = [
            FacetValue(value, text("rating.at_least", lang, stars=f"{floor:g}"), counts.get("rating", {}).get(value, 0),
                       own.rating_min == floor)
            for value, floor in RATING_BANDS
        ] + [
            FacetValue(value, text("rating.by_reviews", lang, stars=f"{floor:g}"), counts.get("rating", {}).get(value, 0),
                       own.review_min == floor)
            for value, floor in REVIEW_BANDS
        ]  # fmt: skip
        return [
            Facet("category", text("facet.category", lang), values("category", sorted(categories), category_label)),
            Facet("colour", text("facet.colour", lang), values("colour", sorted(colours), colour_label)),
            Facet("price", text("facet.price", lang), tuple(price_values)),
            Facet("rating", text("facet.rating", lang), tuple(rating_values)),
        ]

    # --- no results -------------------------------------------------------------------------------
    def _way_out(self, page: Page, result: SearchResult, lang: Lang) -> None:
        """Nothing matched every filter: offer each filter whose removal gives results, best first,
        and show the nearest products without the best one."""
        if not len(self.engine.lexical):
            page.notices.append(text("notice.empty_catalogue", lang))
            return
        base = self._without_voice(page.query, result)
        options = []
        for key, label, query in self._relaxations(base, result, lang):
            found = self.engine.search(query)
            if found.pool:
                options.append((Relaxation(key, label, len(found.pool), query), found.pool))
        options.sort(key=lambda option: -option[0].count)
        page.relaxations = [relaxation for relaxation, _ in options]
        if not options:
            page.notices.append(text("notice.no_match_at_all", lang))
            return
        best, pool = options[0]
        page.nearest = pool[: page.query.k or self.settings.top_k]
        if best.key in ("mode:hybrid", "spelling:eager"):
            page.notices.append(text("notice.no_match_words", lang, action=best.label))
        else:
            page.notices.append(text("notice.no_match", lang, filter=best.label))

    @staticmethod
    def _without_voice(query: Query, result: SearchResult) -> Query:
        """The same query with the recording replaced by its transcript (so it is not heard twice)."""
        if query.audio is None or result.transcript is None:
            return query
        return query.model_copy(update={"audio": None, "text": " ".join(filter(None, [query.text, result.transcript.text]))})

    def _relaxations(self, query: Query, result: SearchResult, lang: Lang):
        """(key, label, query) for every single thing that could be relaxed: a filter, or how words are read."""
        if result.words and query.mode == "lexical":
            yield "mode:hybrid", text("relax.meaning", lang), query.model_copy(update={"mode": "hybrid"})
        if result.words and query.spelling == "auto" and "spelling" not in query.dropped:
            yield "spelling:eager", text("relax.spelling", lang), query.model_copy(update={"spelling": "eager"})
        for chip in self._chips(result, lang):
            if chip.key.split(":")[0] in ("price", "colour", "category"):
                yield chip.key, chip.label, query.model_copy(update={"dropped": (*query.dropped, chip.key)})
        own = query.filters
        for dimension in OWN_DIMENSIONS:
            cleared = own.without(dimension)
            if cleared != own:
                yield f"own:{dimension}", self.own_label(own, dimension, lang), query.model_copy(update={"filters": cleared})

    def own_label(self, own: Filters, dimension: str, lang: Lang) -> str:
        if dimension == "categories":
            values = ", ".join(category_label(c, lang) for c in own.categories)
        elif dimension == "colours":
            values = ", ".join(colour_label(c, lang) for c in own.colours)
        elif dimension == "price":
            values = self.price_label(own.price_min, own.price_max, lang)
        elif own.review_min is not None:
            values = text("rating.by_reviews", lang, stars=f"{own.review_min:g}")
        else:
            values = text("rating.at_least", lang, stars=f"{own.rating_min:g}")
        return text(f"own.{dimension}", lang, values=values)

    # --- words for people -------------------------------------------------------------------------
    @staticmethod
    def reason_text(reason: Reason, lang: Lang) -> str:
        key, values = reason
        values = dict(values)
        if isinstance(values.get("product"), Product):
            values["title"] = product_title(values.pop("product"), lang)
        if "colour" in values:
            values["colour"] = colour_label(values["colour"], lang)
        return text(key, lang, **values)


def _modality(query: Query) -> str:
    """How a search was asked, for the event log: text, photo, voice or a combination."""
    parts = [name for name, given in (("text", query.text.strip()), ("photo", query.image), ("voice", query.audio)) if given]
    return "+".join(parts) or "filters"


def visible_hits(page: Page) -> list[Hit]:
    """The products a page shows: its hits, or the nearest ones when nothing matched every filter."""
    return page.hits or page.nearest
