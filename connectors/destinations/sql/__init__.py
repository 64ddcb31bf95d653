"""What the SQL destinations share: the exactly-once loader (`loader`), the dialect hooks it
runs through (`dialect`), schema evolution rules (`evolution`), Landed's names in a namespace
(`identifiers`) and batch preparation (`batches`). Plain Python over DB-API-like drivers; no
Django."""
