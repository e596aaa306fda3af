"""Blob stores: content-addressed bytes (code and layer zips)."""
