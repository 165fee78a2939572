"""The catalogue room: typed products read from CSV/JSONL, safe image loading, the Chroma vector
store that holds both CLIP vectors of every product (with its HNSW configuration, and the version
numbering that lets a reader read only what changed), and the incremental indexer that keeps the
store in step with the catalogue file. Nothing here ranks anything; search reads what this room wrote.
"""
