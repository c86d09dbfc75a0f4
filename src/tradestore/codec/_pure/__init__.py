"""Pure-Python twins of the Cython modules in ../_ext. Chosen in tradestore.codec._twins."""
