"""Exports: the database as scenario files (CSV, XLSX, HXL) and as an IATI activity file."""
