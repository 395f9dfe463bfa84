"""The demonstration resource API (Sure-shaped): accounts, transactions, tags, valuations,
sync. Every query is scoped to the caller's family; another family's id answers 404."""
