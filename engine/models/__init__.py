"""The models room: open_clip (text and images into one vector space) and OpenAI Whisper (speech
to text), each wrapped in a small class that loads its weights lazily, once, behind a lock, and is
then shared by indexing and every search. Only this room and the shopper model import torch.
"""
