"""The assembled engine: one object holding every stage, each model loaded once and shared."""

from __future__ import annotations

import logging
from functools import cached_property

from tqdm import tqdm

from engine.catalogue.indexer import Indexer, IndexReport
from engine.catalogue.products import Product, load_catalogue
from engine.catalogue.store import ProductStore
from engine.models.clip import ClipEmbedder
from engine.models.speech import SpeechRecognizer
from engine.search.engine import SearchEngine
from engine.settings import Settings
from engine.shoppers.events import EventStore
from engine.shoppers.personal import Personaliser
from engine.types import Hit, Query, SearchResult

log = logging.getLogger(__name__)


class ShopLens:
    """Search, similar items and indexing over one catalogue. Nothing heavy happens in ``__init__``."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.embedder = ClipEmbedder(self.settings)
        self.speech = SpeechRecognizer(self.settings)

    @cached_property
    def store(self) -> ProductStore:
        return ProductStore(self.settings, self.embedder.space)

    @cached_property
    def engine(self) -> SearchEngine:
        return SearchEngine(self.settings, self.embedder, self.store, self.speech)

    @cached_property
    def events(self) -> EventStore:
        return EventStore(self.settings.data_dir / "events.sqlite3")

    @cached_property
    def personal(self) -> Personaliser:
        return Personaliser(self.store, self.embedder, self.events, self.categories(), self.colours())

    @cached_property
    def indexer(self) -> Indexer:
        return Indexer(self.settings, self.embedder, self.store)

    def start(self, *, speech: bool = True) -> IndexReport | None:
        """Load and warm the models, open the index and (if configured) sync it with the catalogue.

        After this no request pays for a model load.
        """
        steps = ["CLIP model", "vector index", *(["catalogue"] if self.settings.index_on_start else []),
                 *(["Whisper model"] if speech else [])]  # fmt: skip
        report = None
        with tqdm(steps, desc="Starting ShopLens", unit="step") as bar:
            for step in bar:
                bar.set_postfix_str(step)
                if step == "CLIP model":
                    self.embedder.warm_up()
                elif step == "vector index":
                    log.info("index at %s holds %d products", self.store.where, self.store.count())
                elif step == "catalogue":
                    report = self.index_catalogue()
                else:
                    self.speech.warm_up()
        return report

    def index_catalogue(self, *, progress: bool = True) -> IndexReport:
        report = self.indexer.sync(load_catalogue(self.settings.catalog), progress=progress)
        self.engine.refresh()
        if "personal" in self.__dict__:
            self.personal.refresh()
        return report

    def search(self, query: Query) -> SearchResult:
        return self.engine.search(query)

    def similar(self, product_id: str, k: int | None = None) -> list[Hit]:
        return self.engine.similar(product_id, k)

    def product(self, product_id: str) -> Product | None:
        return self.store.products([product_id]).get(product_id)

    def categories(self) -> list[str]:
        return self.store.categories()

    def colours(self) -> list[str]:
        return sorted(self.engine.vocabulary()[0])
