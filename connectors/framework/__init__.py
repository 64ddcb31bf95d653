"""The connector framework: sources and destinations in plain Python, with no Django inside.

A source is handed plain config and yields bounded Arrow record batches with the stream state
reached after each; a destination loads those batches and commits each batch's state in the
same transaction as its rows, which is what makes a resumed sync exactly once.
"""
