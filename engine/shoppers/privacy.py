"""Privacy that holds: differential privacy for what shoppers see of each other; export, forget, retention.

**Differential privacy.** Whatever is computed across shoppers and shown to others ("popular",
"bought together", review aggregates) is released with the Laplace mechanism over the whole
catalogue (products nobody touched get noise too, so a product's mere presence says nothing):

    shown count = true count + Laplace(0, Δ / ε)        shown only if ≥ the minimum count

``Δ``, the sensitivity, is the most one shopper can move the released counts in total (L1 norm),
made small by bounding each shopper's contribution before counting:

- *popular*: a shopper counts towards at most ``privacy_max_products`` products (their strongest
  interests: purchase 1.0 over cart 0.6 over view 0.2, then the most recent), so Δ = that bound;
- *bought together with X*: each shopper who carted or bought X counts once towards at most
  ``privacy_max_products`` other products they carted or bought, so Δ = that bound;
- *review aggregates*: see :mod:`engine.reviews.summary` (per product, one review per shopper).

Thresholding, rounding and sorting noisy counts is post-processing, so a shown list is ε-DP: for
any list L and two logs that differ by one shopper, P[L | with] ≤ e^ε · P[L | without]. A release
is drawn once and reused for ``privacy_release_hours``: a fresh draw per page view would let anyone
average the noise away. Every release spends ε of a shopper's budget (composition).

**Data rights.** :class:`ShopperData` exports everything tied to a shopper as JSON, forgets it
(reviews deleted or anonymised, the shopper's choice) and applies retention: events older than
``retention_days`` are deleted at start and then daily.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from engine.settings import Settings
from engine.shoppers.events import Database, EventStore

log = logging.getLogger(__name__)

DAY = 24 * 3600
CONTRIBUTION = {"view": 0.2, "cart": 0.6, "purchase": 1.0}  # one shopper's weight for one product, at most 1
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


# --- the Laplace mechanism ----------------------------------------------------------------------
class Laplace:
    """Adds Laplace(0, Δ/ε) noise to counts; ``rng`` is injectable so tests can replay a draw."""

    def __init__(self, epsilon: float, rng: np.random.Generator | None = None) -> None:
        if epsilon <= 0:
            raise ValueError("epsilon must be positive")
        self.epsilon = epsilon
        self.rng = rng or np.random.default_rng()

    def scale(self, sensitivity: float) -> float:
        return sensitivity / self.epsilon

    def noisy(self, counts: Mapping[K, float], domain: Iterable[K], sensitivity: float) -> dict[K, float]:
        """A noisy count for every key of ``domain`` (absent keys count 0), drawn in sorted key order."""
        keys = sorted(set(domain))
        noise = self.rng.laplace(0.0, self.scale(sensitivity), len(keys))
        return {key: float(counts.get(key, 0.0)) + float(n) for key, n in zip(keys, noise)}


def shown(noisy: Mapping[str, float], min_count: float, k: int | None = None) -> list[tuple[str, float]]:
    """The noisy counts that pass the threshold, largest first (ties by key), rounded for display."""
    kept = sorted(((key, value) for key, value in noisy.items() if value >= min_count), key=lambda kv: (-kv[1], kv[0]))
    return [(key, round(value, 1)) for key, value in kept[:k]]


def log_likelihood_ratio(release: Mapping[str, float], counts: Mapping[str, float], neighbour: Mapping[str, float],
                         scale: float) -> float:  # fmt: skip
    """ln P[release | counts] − ln P[release | neighbour] under Laplace noise of ``scale``: at most ε when private."""
    return sum(abs(v - neighbour.get(k, 0.0)) - abs(v - counts.get(k, 0.0)) for k, v in release.items()) / scale


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


# --- bounding one shopper's contribution ------------------------------------------------------------
def bounded_interest(engagements: Iterable[tuple[str, str, str, float]], max_products: int) -> Counter:
    """Per product, the summed interest of shoppers, each counting towards at most ``max_products``."""
    strongest: dict[str, dict[str, tuple[float, float]]] = {}
    for shopper, product_id, kind, at in engagements:
        mine = strongest.setdefault(shopper, {})
        mine[product_id] = max(mine.get(product_id, (0.0, 0.0)), (CONTRIBUTION[kind], at))
    totals: Counter = Counter()
    for products in strongest.values():
        for product_id, (weight, _) in sorted(products.items(), key=lambda kv: kv[1], reverse=True)[:max_products]:
            totals[product_id] += weight
    return totals


def bounded_co_purchases(engagements: Iterable[tuple[str, str, str, float]], product_id: str,
                         max_products: int) -> Counter:  # fmt: skip
    """Per other product, the shoppers who carted or bought both, each counting towards at most ``max_products``."""
    baskets: dict[str, list[str]] = {}
    for shopper, other, kind, _ in engagements:  # newest first within a shopper
        basket = baskets.setdefault(shopper, [])
        if kind in ("cart", "purchase") and other not in basket:
            basket.append(other)
    totals: Counter = Counter()
    for basket in baskets.values():
        if product_id in basket:
            totals.update([other for other in basket if other != product_id][:max_products])
    return totals


# --- released lists ----------------------------------------------------------------------------------
class Releases:
    """Each release is drawn once and reused until it is ``ttl`` seconds old."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl, self.clock = ttl, clock
        self._cache: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, draw: Callable[[], T]) -> T:
        with self._lock:
            now = self.clock()
            cached = self._cache.get(key)
            if cached is None or now - cached[0] >= self.ttl:
                cached = (now, draw())
                self._cache[key] = cached
            return cached[1]


class PrivateStats:
    """ "Popular" and "bought together" as shoppers may see them: bounded, noisy, thresholded, cached."""

    def __init__(self, settings: Settings, events: EventStore, domain: Callable[[], Iterable[str]],
                 rng: np.random.Generator | None = None, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.settings, self.events, self.domain = settings, events, domain
        self.laplace = Laplace(settings.privacy_epsilon, rng)
        self.releases = Releases(settings.privacy_release_hours * 3600, clock)

    @property
    def sensitivity(self) -> float:
        return float(self.settings.privacy_max_products)

    def popularity(self) -> dict[str, float]:
        """Every product's noisy popularity, before the threshold: rank with it, show only :meth:`popular`."""

        def draw() -> dict[str, float]:
            counts = bounded_interest(self.events.engagements(), self.settings.privacy_max_products)
            return self.laplace.noisy(counts, self.domain(), self.sensitivity)

        return self.releases.get("popular", draw)

    def popular(self, k: int | None = 12) -> list[tuple[str, float]]:
        """(product id, shown count), most popular first; only counts above the minimum are shown (all: k=None)."""
        return shown(self.popularity(), self.settings.privacy_min_count, k)

    def popular_searches(self, phrases: Iterable[str], k: int | None = 50) -> list[tuple[str, float]]:
        """How many shoppers searched each of ``phrases`` (normalised), noisy and thresholded.

        Only phrases from a public list (the catalogue's own names) can come out, so nothing a
        shopper typed in their own words is ever shown to others; each shopper counts towards at
        most ``privacy_max_products`` phrases.
        """
        domain = {_normalise(phrase) for phrase in phrases if phrase.strip()}

        def draw() -> dict[str, float]:
            counts: Counter = Counter()
            per_shopper: dict[str, list[str]] = {}
            for shopper, query in self.events.searches():
                mine, text = per_shopper.setdefault(shopper, []), _normalise(query)
                if text in domain and text not in mine and len(mine) < self.settings.privacy_max_products:
                    mine.append(text)
                    counts[text] += 1
            return self.laplace.noisy(counts, domain, self.sensitivity)

        return shown(self.releases.get(("popular searches", len(domain)), draw), self.settings.privacy_min_count, k)

    def bought_together(self, product_id: str, k: int = 8) -> list[str]:
        def draw() -> dict[str, float]:
            counts = bounded_co_purchases(self.events.engagements(), product_id, self.settings.privacy_max_products)
            return self.laplace.noisy(counts, set(self.domain()) - {product_id}, self.sensitivity)

        noisy = self.releases.get(("bought together", product_id), draw)
        return [pid for pid, _ in shown(noisy, self.settings.privacy_min_count, k)]


# --- export, forget, retention -------------------------------------------------------------------------
@dataclass(frozen=True)
class Forgotten:
    events: int
    reviews_deleted: int
    reviews_anonymised: int
    votes: int
    devices: int


class ShopperData:
    """A shopper's data rights over the shopper database: export it, forget it; and retention for all."""

    def __init__(self, database: Database, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.database, self.settings, self.clock = database, settings, clock

    @classmethod
    def from_settings(cls, settings: Settings) -> ShopperData:
        return cls(Database.from_settings(settings), settings)

    def export(self, shopper: str) -> dict[str, Any]:
        """Every event, review, helpful vote and paired device of the shopper's profile, decrypted."""
        decrypt = self.database.cipher.decrypt
        with self.database.connect() as db:
            profile = Database.profile(db, shopper)
            events = db.execute("SELECT id, kind, product_id, query, modality, at FROM events WHERE shopper = ? "
                                "ORDER BY at, id", (profile,)).fetchall()  # fmt: skip
            reviews = db.execute("SELECT id, product_id, stars, text, transcript, language, photo, created, updated "
                                 "FROM reviews WHERE shopper = ? ORDER BY created", (profile,)).fetchall()  # fmt: skip
            votes = db.execute("SELECT review_id, at FROM review_votes WHERE shopper = ? ORDER BY at", (profile,)).fetchall()
            devices = db.execute("SELECT device, linked_at FROM devices WHERE profile = ? ORDER BY linked_at",
                                 (profile,)).fetchall()  # fmt: skip
        return {
            "shopper": shopper, "profile": profile, "exported_at": _iso(self.clock()),
            "events": [{"id": i, "kind": k, "product_id": p, "query": decrypt(q), "modality": m, "at": _iso(a)}
                       for i, k, p, q, m, a in events],
            "reviews": [{"id": i, "product_id": p, "stars": s, "text": decrypt(t), "voice_transcript": decrypt(v),
                         "language": lang, "photo": photo, "created": _iso(c), "updated": _iso(u)}
                        for i, p, s, t, v, lang, photo, c, u in reviews],
            "helpful_votes": [{"review_id": r, "at": _iso(a)} for r, a in votes],
            "paired_devices": [{"device": d, "linked_at": _iso(a)} for d, a in devices],
        }  # fmt: skip

    def export_json(self, shopper: str) -> str:
        return json.dumps(self.export(shopper), ensure_ascii=False, indent=2)

    def forget(self, shopper: str, reviews: Literal["delete", "anonymise"] = "delete") -> Forgotten:
        """Delete the profile's events, votes, pairings and codes; its reviews are deleted or anonymised.

        An anonymised review stays on the product as "a shopper" with its stars, text and photo, tied to
        no one (its voice transcript is dropped). Deleted rows are zeroed in the file (``secure_delete``)
        and the write-ahead log is emptied, so nothing of them stays on disk.
        """
        if reviews not in ("delete", "anonymise"):
            raise ValueError("reviews must be 'delete' or 'anonymise'")
        with self.database.transaction() as db:
            profile = Database.profile(db, shopper)
            photos = [row[0] for row in db.execute("SELECT photo FROM reviews WHERE shopper = ? AND photo IS NOT NULL",
                                                   (profile,))]  # fmt: skip
            events = db.execute("DELETE FROM events WHERE shopper = ?", (profile,)).rowcount
            votes = db.execute("DELETE FROM review_votes WHERE shopper = ?", (profile,)).rowcount
            if reviews == "delete":
                deleted, anonymised = db.execute("DELETE FROM reviews WHERE shopper = ?", (profile,)).rowcount, 0
            else:
                deleted, anonymised = 0, db.execute(
                    "UPDATE reviews SET shopper = NULL, origin = 'anonymised', author = 'a shopper', transcript = NULL "
                    "WHERE shopper = ?", (profile,),
                ).rowcount  # fmt: skip
            db.execute("DELETE FROM pairing_codes WHERE device IN (SELECT device FROM devices WHERE profile = ?) "
                       "OR device IN (?, ?)", (profile, profile, shopper))  # fmt: skip
            devices = db.execute("DELETE FROM devices WHERE profile = ? OR device = ?", (profile, shopper)).rowcount
        if reviews == "delete":
            for photo in photos:
                (self.settings.data_dir / photo).unlink(missing_ok=True)
        self.database.checkpoint()
        return Forgotten(events, deleted, anonymised, votes, devices)

    def apply_retention(self) -> int:
        """Delete events older than ``retention_days``; returns how many (0 days keeps everything)."""
        if self.settings.retention_days <= 0:
            return 0
        cutoff = self.clock() - self.settings.retention_days * DAY
        deleted = EventStore(self.database).delete_before(cutoff)
        if deleted:
            log.info("retention: deleted %d events older than %d days", deleted, self.settings.retention_days)
        return deleted

    def start_retention(self, every: float = DAY) -> threading.Event:
        """Apply retention now, then every ``every`` seconds in a daemon thread; set the returned event to stop."""
        stop = threading.Event()
        self._retain_once(every)

        def loop() -> None:
            while not stop.wait(every):
                self._retain_once(every)

        threading.Thread(target=loop, name="shoplens-retention", daemon=True).start()
        return stop

    def _retain_once(self, every: float) -> None:
        try:
            self.apply_retention()
        except Exception:  # a locked or full disk must neither stop the app starting nor end the schedule
            log.exception("retention run failed; trying again in %.0f s", every)


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
