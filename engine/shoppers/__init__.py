"""The shoppers room: what shoppers do (events in SQLite), what that says about them (the shopper
vector U, the product vector G and the learned scorer R), a seeded simulator that produces training
logs, and the personalisation the app shows ("For you", re-ranked results with reasons, a profile).
"""
