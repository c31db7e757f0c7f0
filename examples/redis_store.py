from cookieguard.stores.redis import RedisStore

store = RedisStore(
    "redis://app:s3cret@redis.internal:6379/2",  # ACL user, password, database 2
    prefix="myapp:",  # so several apps can share one database
    timeout=2.0,  # connect, and each reply
)
