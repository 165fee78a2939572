"""One immutable view of the indexed catalogue, shared by every request until the next re-index.

A search reads the catalogue many times (words, filters, facets, explanations). Holding one
:class:`Snapshot` for the whole request means a re-index that lands half-way cannot mix two
catalogue versions: the engine builds a new snapshot beside the old one and swaps a single reference.

The expensive parts of a snapshot, the products' records, the BM25 index and the table of product
vectors, are saved per catalogue version (:class:`SavedIndexes`), so a start over an unchanged index
loads them instead of reading the store again and rebuilding them.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter

from engine.catalogue.products import Product
from engine.catalogue.records import CatalogueVersion
from engine.search.facets import FacetColumns
from engine.search.lexical import LexicalIndex
from engine.search.spelling import SpellingCorrector
from engine.search.synonyms import SynonymSet
from engine.search.vectors import VectorTable

log = logging.getLogger(__name__)
_PRODUCT_LIST = TypeAdapter(list[Product])

COLLECTION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # Chroma's ids are UUIDs
VECTORS = "vectors-v"  # the vector table's folder, beside the BM25 index's "v<number>"
PRODUCTS = "products-v"  # the products' records, read from the store once per version
PRODUCTS_FILE = "products.json"
PRODUCTS_FORMAT = 1  # bump when Product's fields change meaning, and older saves are read again from the store


@dataclass(frozen=True)
class Snapshot:
    version: int  # this process's sequence number of snapshots (search results carry it)
    lexical: LexicalIndex
    columns: FacetColumns
    spelling: SpellingCorrector
    synonyms: SynonymSet
    by_id: dict[str, Product] = field(repr=False)
    currency: str = "USD"  # the catalogue's usual currency, for price labels
    catalogue: CatalogueVersion | None = None  # the index version it was read at; None: not read from the index
    vectors: VectorTable | None = None  # every product's vectors, rows in ``products`` order; None: words only
    exact: bool = False  # holds exactly the settled version ``catalogue``: later versions may be read as changes to it

    @classmethod
    def build(cls, products: Iterable[Product], version: int, catalogue: Path | None = None, *,
              lexical: Callable[[list[Product]], LexicalIndex] = LexicalIndex,
              read_at: CatalogueVersion | None = None, vectors: VectorTable | None = None,
              exact: bool = False) -> Snapshot:  # fmt: skip
        """Everything searched, built from ``products``; the synonyms come from the catalogue's folder.

        ``lexical`` makes the BM25 index of the products sorted by id (by default it is built here);
        ``vectors``, if given, holds the same products in the same order.
        """
        ordered = sorted(products, key=lambda p: p.id)
        currencies = Counter(p.currency for p in ordered)
        synonyms = SynonymSet.for_catalogue(catalogue, ordered) if catalogue is not None else SynonymSet()
        for problem in synonyms.problems:
            log.warning("%s", problem)
        index = lexical(ordered)
        if vectors is not None and vectors.ids != [p.id for p in ordered]:
            raise ValueError("the vector table does not hold the snapshot's products")
        return cls(version, index, FacetColumns(index.products), SpellingCorrector.from_products(index.products),
                   synonyms, index.by_id, currencies.most_common(1)[0][0] if currencies else "USD",
                   read_at, vectors, exact)  # fmt: skip

    @property
    def products(self) -> list[Product]:
        return self.lexical.products

    @property
    def colours(self) -> set[str]:
        return self.lexical.colours

    @property
    def categories(self) -> set[str]:
        return self.lexical.categories

    def __len__(self) -> int:
        return len(self.by_id)


class SavedIndexes:
    """Products, BM25 indexes and vector tables saved on disk, one folder each per catalogue version:
    ``root/<collection>-<id>/v<number>`` (BM25), ``.../vectors-v<number>`` and ``.../products-v<number>``.

    A version is saved only when what was read is exactly that version (:attr:`CatalogueVersion.settled`
    before and after the read, whole or as changes to an earlier version), so a saved index always
    matches its version. Saving writes a temporary folder and
    renames it into place, so a reader never sees half an index; older versions are then removed
    (a process still reading one keeps its memory-mapped files until it lets go of them).
    """

    def __init__(self, root: Path, collection: str) -> None:
        self.root = Path(root)
        self.collection = collection

    def folder(self, version: CatalogueVersion, part: str = "v") -> Path:
        return self.root / f"{self.collection}-{version.collection}" / f"{part}{version.number}"

    def load(self, version: CatalogueVersion, products: list[Product]) -> LexicalIndex | None:
        folder = self.folder(version)
        if not folder.is_dir():
            return None
        index = LexicalIndex.load(folder, products)
        if index is None:
            log.warning("ignoring the saved lexical index %s: it does not match the catalogue", folder)
        return index

    def save(self, version: CatalogueVersion, index: LexicalIndex) -> None:
        self._save(version, "v", index.save, f"the lexical index of {len(index)} products")

    def lexicon(self, version: CatalogueVersion | None) -> Callable[[list[Product]], LexicalIndex]:
        """How :meth:`Snapshot.build` gets its index for ``version``: loaded, or built and saved (None: built only)."""

        def make(products: list[Product]) -> LexicalIndex:
            if version is None or not products:
                return LexicalIndex(products)
            index = self.load(version, products)
            if index is None:
                index = LexicalIndex(products)
                self.save(version, index)
            return index

        return make

    def load_vectors(self, version: CatalogueVersion, ids: list[str], dim: int) -> VectorTable | None:
        folder = self.folder(version, VECTORS)
        if not folder.is_dir():
            return None
        table = VectorTable.load(folder, ids, dim)
        if table is None:
            log.warning("ignoring the saved vector table %s: it does not match the catalogue", folder)
        return table

    def save_vectors(self, version: CatalogueVersion, table: VectorTable) -> None:
        rejected = self.folder(version, VECTORS)
        if rejected.is_dir():  # saved before but refused on loading (damaged, or an older format)
            shutil.rmtree(rejected, ignore_errors=True)
        self._save(version, VECTORS, table.save, f"the vectors of {len(table)} products")

    def newest_before(self, version: CatalogueVersion) -> CatalogueVersion | None:
        """The newest version of ``version``'s index older than it saved with both its products and its vectors."""
        folder = self.folder(version).parent
        numbers = [int(f.name[len(PRODUCTS) :]) for f in folder.glob(f"{PRODUCTS}*") if f.name[len(PRODUCTS) :].isdigit()]
        return next((CatalogueVersion(version.collection, n) for n in sorted(numbers, reverse=True)
                     if n < version.number and n % 2 == 0 and (folder / f"{VECTORS}{n}").is_dir()), None)  # fmt: skip

    def load_products(self, version: CatalogueVersion) -> list[Product] | None:
        """The products saved for ``version`` (sorted by id, as the store reads them), or None."""
        folder = self.folder(version, PRODUCTS)
        try:
            if (folder / "format").read_text() != str(PRODUCTS_FORMAT):
                raise ValueError("saved in another format")
            return _PRODUCT_LIST.validate_json((folder / PRODUCTS_FILE).read_bytes())
        except FileNotFoundError:  # never saved, or removed by a newer version's save meanwhile
            return None
        except OSError as error:
            log.warning("could not read the saved products %s: %s", folder, error)
            return None
        except ValueError as error:  # damaged, or written by an older Product: read them again
            log.warning("ignoring the saved products %s: %s", folder, str(error)[:200])
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def save_products(self, version: CatalogueVersion, products: list[Product]) -> None:
        def write(folder: Path) -> None:
            (folder / PRODUCTS_FILE).write_bytes(_PRODUCT_LIST.dump_json(products))
            (folder / "format").write_text(str(PRODUCTS_FORMAT))

        self._save(version, PRODUCTS, write, f"the records of {len(products)} products")

    def _save(self, version: CatalogueVersion, part: str, write: Callable[[Path], None], what: str) -> None:
        final = self.folder(version, part)
        final.parent.mkdir(parents=True, exist_ok=True)
        for other in self.root.glob(f"{self.collection}-*"):  # an index rebuilt since: a new collection id
            if other != final.parent and COLLECTION_ID.fullmatch(other.name[len(self.collection) + 1 :]):
                shutil.rmtree(other, ignore_errors=True)
        temporary = Path(tempfile.mkdtemp(prefix=".saving-", dir=final.parent))
        try:
            write(temporary)
            os.rename(temporary, final)
        except OSError as error:  # another process saved the same version first, or the disk is full
            shutil.rmtree(temporary, ignore_errors=True)
            if not final.is_dir():
                log.warning("could not save %s to %s: %s", what, final, error)
            return
        log.info("saved %s to %s", what, final)
        for old in final.parent.glob(f"{part}*"):
            number = old.name[len(part) :]
            if number.isdigit() and int(number) < version.number:
                shutil.rmtree(old, ignore_errors=True)
