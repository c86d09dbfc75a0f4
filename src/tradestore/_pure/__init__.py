"""Pure-Python twins of the Cython modules in ext/. Chosen in tradestore._compat."""
