"""Exports of a subtree\x27s records (chidoan/exports/xlsx.py)."""
