"""The codec: how trades and rollups are written as bytes and read back.

Below this face: the v1 value format (``_values``), the fixed-point scale (``_fixed``),
the aggTrade frame rules (``_frame``), exact decimal text (``_decimal``), the rollup
value layout (``_rollupfmt``), and the hot-path modules in two twins, compiled
(``_ext/*.pyx``) and pure Python (``_pure/``), of which ``_twins`` chooses one. Nothing
in here imports the store, the recorder or the analytics; they import from here: the
hot-path functions in use from ``_twins``, the value format from ``_values``.
"""
