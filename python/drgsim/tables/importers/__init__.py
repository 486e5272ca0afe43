"""Importers that translate other rule layouts into the project's table format.

- :mod:`drgsim.tables.importers.opendrg`: the CSV layout of the CHS-DRG 1.x folders
  (national 1.0 and 1.1, 北京 2022, 盐城 2023) with Python-like rule expressions.
- :mod:`drgsim.tables.importers.chs20`: the national CHS-DRG 2.0 (2024) folder, JSON originals
  with named code sections and logic texts.

Use them through ``drgsim tables import FORMAT DIR --name NAME`` or
:func:`drgsim.tables.import_tables`.
"""
