"""The reviews room: shoppers' reviews written with stars, text, a photo or a voice note, stored with
their other data in the shopper database; what each says (sentiment with VADER and SnowNLP, aspects
from a bilingual lexicon); the order they are shown in (helpfulness, balance, a checked photo, with
a reason); per-product summaries and statistics released with differential privacy, which also feed
the product vector G; and the evaluation against hand-labelled reviews
(``python -m engine.reviews.evaluation``). :class:`engine.reviews.desk.ReviewDesk` is the facade.
"""
