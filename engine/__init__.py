"""The ShopLens search core: everything a page shows, computed without any knowledge of Gradio.

Rooms, by concern: :mod:`engine.catalogue` (products, images, the Chroma store and the indexer),
:mod:`engine.models` (CLIP and Whisper, loaded once and shared), :mod:`engine.search` (reading the
words, ranking, fusing, facets), :mod:`engine.shoppers` (events, the shopper model and
personalisation). At the top sit the pieces every room uses (:mod:`engine.settings`,
:mod:`engine.errors`, :mod:`engine.types`), the assembled :class:`engine.service.ShopLens`, and the
command-line tools (``python -m engine.index | evaluate | recommend | convert_ct2``).
"""
