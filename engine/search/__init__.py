"""The search room: one query (words, photo, voice, filters) in, a ranked and explained result out.
:mod:`~engine.search.understand` reads filters from the words, :mod:`~engine.search.lexical` ranks
by BM25, :mod:`~engine.search.candidates` gathers candidates from the vector store and BM25,
:mod:`~engine.search.fusion` composes query vectors and fuses the signals into one score, and
:mod:`~engine.search.engine` runs the stages in order. Every search reads one immutable
:mod:`~engine.search.snapshot` of the catalogue, which :mod:`~engine.search.reader` reads from the store.
"""
