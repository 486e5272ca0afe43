"""Importers that translate other groupers' rule tables into the drgsim table format.

- :mod:`drgsim.tables.importers.opendrg`: rule folders in the "opendrg" layout
  (``mdc_conditions.csv``, ``adrg_conditions.csv``, ``drg_split_conditions.csv`` ...).
"""
