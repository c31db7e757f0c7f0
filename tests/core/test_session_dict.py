"""`Session` is a real dict: every dict idiom works, and every mutation is saved as a delta."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from cookieguard.config import SessionConfig
from cookieguard.core.session import EXPIRY_KEY, Session
from cookieguard.core.session_plan import NOTHING_VARY, Delete, Update
from cookieguard.core.tokens import new_session_id

T0 = 1_000_000.0
CONFIG = SessionConfig(idle_timeout=3600, touch_interval=60)


def stored(data: dict[str, Any] | None = None) -> Session:
    return Session.restore(
        new_session_id(),
        {"a": 1, "b": 2} if data is None else data,
        user_id=None,
        created_at=T0,
        last_seen=T0,
        expires_at=T0 + 3600,
        now=T0,
    )


def delta(session: Session) -> tuple[dict[str, Any], list[str]]:
    plan = session.plan_save(CONFIG, T0 + 1)
    assert isinstance(plan, Update), plan
    return plan.set_items, sorted(plan.delete_keys)


def test_it_is_a_dict_that_json_serialises() -> None:
    session = stored()
    assert isinstance(session, dict)
    assert json.dumps({"session": session}) == '{"session": {"a": 1, "b": 2}}'
    assert session.accessed  # the response depended on it: Vary: Cookie


def test_copy_and_union_give_plain_dicts_and_save_nothing() -> None:
    session = stored()
    for result in (session.copy(), session | {"c": 3}, {"c": 3} | session, copy.copy(session)):
        assert type(result) is dict
    assert session | {"c": 3} == {"a": 1, "b": 2, "c": 3}
    assert {"a": 0, "c": 3} | session == {"a": 1, "c": 3, "b": 2}
    assert type(Session.fromkeys(["x"])) is dict
    assert session.plan_save(CONFIG, T0 + 1) is NOTHING_VARY


def test_reads_behave_as_on_a_dict() -> None:
    session = stored({"a": 1, "b": 2, "c": 3})
    assert list(reversed(session)) == ["c", "b", "a"]
    assert list(session.items()) == [("a", 1), ("b", 2), ("c", 3)]
    assert len(session) == 3 and "a" in session and session == {"a": 1, "b": 2, "c": 3}
    assert session.get("zz", 9) == 9 and dict(session) == {"a": 1, "b": 2, "c": 3}


@pytest.mark.parametrize(
    ("mutate", "sets", "deletes"),
    [
        (lambda s: s.__setitem__("c", 3), {"c": 3}, []),
        (lambda s: s.__delitem__("a"), {}, ["a"]),
        (lambda s: s.pop("a"), {}, ["a"]),
        (lambda s: s.popitem(), {}, ["b"]),  # the last item, as dict.popitem
        (lambda s: s.setdefault("c", [1]), {"c": [1]}, []),
        (lambda s: s.update({"a": 5}, c=3), {"a": 5, "c": 3}, []),
        (lambda s: s.update([("d", 4)]), {"d": 4}, []),
        (lambda s: s.__ior__({"e": 5}), {"e": 5}, []),
        (lambda s: s.mark_changed("a"), {"a": 1}, []),
    ],
)
def test_every_mutator_records_the_keys_it_changed(
    mutate: Callable[[Session], object], sets: dict[str, Any], deletes: list[str]
) -> None:
    session = stored()
    mutate(session)
    assert delta(session) == (sets, deletes)


def test_in_place_operator_keeps_the_session() -> None:
    session = stored()
    alias = session
    session |= {"c": 3}
    assert session is alias and delta(session) == ({"c": 3}, [])


def test_reads_that_change_nothing_save_nothing() -> None:
    session = stored()
    assert session.setdefault("a", 99) == 1
    assert session.pop("missing", None) is None
    with pytest.raises(KeyError):
        session.pop("missing")
    assert session.plan_save(CONFIG, T0 + 1) is NOTHING_VARY


def test_popitem_removes_the_last_item_inserted() -> None:
    session = stored()
    session["z"] = 26
    assert session.popitem() == ("z", 26)
    assert dict(session) == {"a": 1, "b": 2}


def test_update_checks_every_value_before_storing_any() -> None:
    session = stored()
    with pytest.raises(TypeError, match="JSON-serialisable"):
        session.update({"ok": 1, "bad": object()})
    assert dict(session) == {"a": 1, "b": 2} and not session.modified
    with pytest.raises(KeyError):
        session.update({EXPIRY_KEY: 5})


def test_nested_changes_are_saved_through_mark_changed() -> None:
    session = stored({"cart": ["tea"]})
    session["cart"].append("milk")
    assert session.plan_save(CONFIG, T0 + 1) is NOTHING_VARY
    session.mark_changed("cart")
    assert delta(session) == ({"cart": ["tea", "milk"]}, [])


def test_clear_ends_the_stored_session() -> None:
    session = stored()
    old = session.key_hash or ""
    session.clear()
    assert session == {} and session.plan_save(CONFIG, T0 + 1) == Delete(old)


def test_peek_reads_without_marking_accessed() -> None:
    session = stored()
    assert session.peek("a") == 1 and session.peek("nope", 0) == 0
    assert not session.accessed


def test_restore_agrees_with_init() -> None:
    """`restore` sets every slot itself (no __init__): it must leave what __init__ would."""
    sid = new_session_id()
    restored = Session.restore(
        sid,
        {"a": 1, EXPIRY_KEY: 60},
        user_id="u",
        created_at=T0 - 10,
        last_seen=T0 - 5,
        expires_at=T0 + 50,
        now=T0,
    )
    fresh = Session(T0, cookie_present=True)
    slots = [slot for cls in Session.__mro__ for slot in getattr(cls, "__slots__", ())]
    assert len(slots) == 15
    expected = {slot: getattr(fresh, slot) for slot in slots}
    expected.update(
        _id=sid,
        _stored=True,
        _user_id="u",
        _created_at=T0 - 10,
        _last_seen=T0 - 5,
        _expires_at=T0 + 50,
        _expiry=60,
    )
    assert {slot: getattr(restored, slot) for slot in slots} == expected
    assert dict.copy(restored) == {"a": 1}
