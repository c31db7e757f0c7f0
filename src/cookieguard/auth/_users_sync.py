"""Users for threaded (WSGI) code: the blocking `SyncUserStore` protocol and its async view.

An app's own user table plugs into the WSGI front door through `SyncUserStore` (two blocking
lookups). Login, logout and the re-check are the async front door's own coroutines, run
inline (`cookieguard._inline`); they see a sync user store through `inline_user_store`,
whose awaits return at once.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cookieguard.auth._users import User, UserStore

__all__ = [
    "InlineManagedUserStore",
    "InlineUserStore",
    "SyncManagedUserStore",
    "SyncUserStore",
    "inline_user_store",
]


@runtime_checkable
class SyncUserStore(Protocol):
    """`UserStore` with blocking methods. Implement it over your own user table."""

    def get_by_id(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        ...

    def get_by_username(self, username: str) -> User | None:
        """The user with exactly this username, or None."""
        ...


@runtime_checkable
class SyncManagedUserStore(SyncUserStore, Protocol):
    """`ManagedUserStore` with blocking methods (old hashes are then upgraded at login)."""

    def create_user(self, username: str, password_hash: str) -> User:
        """Add a user. Raises `UserExists` if the username is taken."""
        ...

    def set_password(self, user_id: str, password_hash: str) -> bool:
        """Replace the user's password hash; False if there is no such user."""
        ...


class InlineUserStore:
    """A `SyncUserStore` seen as a `UserStore` (never suspends)."""

    __slots__ = ("sync",)

    def __init__(self, sync: SyncUserStore) -> None:
        self.sync = sync

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sync!r})"

    async def get_by_id(self, user_id: str) -> User | None:
        return self.sync.get_by_id(user_id)

    async def get_by_username(self, username: str) -> User | None:
        return self.sync.get_by_username(username)


class InlineManagedUserStore(InlineUserStore):
    """A `SyncManagedUserStore` seen as a `ManagedUserStore`."""

    __slots__ = ()

    sync: SyncManagedUserStore

    def __init__(self, sync: SyncManagedUserStore) -> None:
        super().__init__(sync)

    async def create_user(self, username: str, password_hash: str) -> User:
        return self.sync.create_user(username, password_hash)

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        return self.sync.set_password(user_id, password_hash)


def inline_user_store(store: SyncUserStore) -> UserStore:
    """The async view of `store` that the shared auth coroutines use.

    Raises:
        TypeError: `store` is an async `UserStore` (use its sync twin, e.g.
            `SyncSQLiteUserStore`), or not a user store.
    """
    inline = getattr(store, "inline", None)
    if isinstance(inline, UserStore):
        return inline  # a built-in sync store runs its async twin's code
    import inspect

    if not isinstance(store, SyncUserStore) or inspect.iscoroutinefunction(store.get_by_id):
        raise TypeError(
            f"WSGI apps need a sync user store (SyncUserStore, e.g. SyncSQLiteUserStore), "
            f"not {type(store).__name__}"
        )
    if isinstance(store, SyncManagedUserStore):
        return InlineManagedUserStore(store)
    return InlineUserStore(store)
