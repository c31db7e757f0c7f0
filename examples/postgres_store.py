from cookieguard.stores.postgres import PostgresStore

store = PostgresStore(
    "postgresql://app@db.internal:5432/app?sslmode=verify-full",
    table="app_sessions",
    max_size=10,  # connections for listing, purging, counters
    timeout=3.0,  # connect / wait for a free connection
    query_timeout=10.0,  # a whole call, retry included
)
