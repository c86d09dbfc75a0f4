"""Compiled Cython modules (built from the .pyx files here). Chosen in tradestore.codec._twins."""
