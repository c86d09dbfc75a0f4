"""Compiled Cython modules (built from ext/*.pyx). Import them through tradestore._compat."""
