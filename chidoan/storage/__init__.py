"""Storage: tables, the unit of work with its repositories, and migrations."""
