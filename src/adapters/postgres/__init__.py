"""PostgreSQL adapters: pool, migrations, partitions and the repositories."""
